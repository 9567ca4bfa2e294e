#include "bridges/http_server.hpp"

#include <set>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "messages/json_codec.hpp"
#include "messages/messages.hpp"

namespace orch {

std::string json_error(const std::string& text) {
  return compact_json(nlohmann::json{{"error", text}});
}

namespace {

class server_impl : public http_server {
public:
  server_impl(const http_settings& settings,
              std::map<std::string, http_route> routes)
      : routes_(std::move(routes)) {
    std::set<std::string> paths;
    for (auto& [key, route] : routes_)
      paths.insert(key.substr(key.find(' ') + 1));
    svr_.set_payload_max_length(settings.max_body);
    svr_.set_read_timeout(10, 0);
    svr_.set_write_timeout(10, 0);
    auto handle = [this](const httplib::Request& req, httplib::Response& res) {
      dispatch(req, res);
    };
    for (auto& path : paths) {
      svr_.Get(path, handle);
      svr_.Post(path, handle);
      svr_.Put(path, handle);
      svr_.Delete(path, handle);
    }
    svr_.set_error_handler(
      [](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty())
          return;
        auto why = res.status == 404   ? "no such path: " + req.path
                   : res.status == 413 ? std::string{"request body too large"}
                                       : "HTTP " + std::to_string(res.status);
        res.set_content(json_error(why), "application/json");
      });
    svr_.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content(json_error("internal error"), "application/json");
      });
  }

  ~server_impl() override {
    stop();
  }

  caf::error start(const http_settings& settings) {
    if (settings.port == 0)
      port_ = svr_.bind_to_any_port(settings.host);
    else if (svr_.bind_to_port(settings.host, settings.port))
      port_ = settings.port;
    if (port_ <= 0)
      return caf::make_error(ec::invalid_config,
                             "HTTP_PORT=" + std::to_string(settings.port)
                               + ": cannot listen on " + settings.host
                               + " (port in use?)");
    thread_ = std::thread{[this] { svr_.listen_after_bind(); }};
    return caf::none;
  }

  int port() const override {
    return port_;
  }

  void stop() override {
    if (!thread_.joinable())
      return;
    svr_.stop();
    thread_.join();
  }

private:
  void dispatch(const httplib::Request& req, httplib::Response& res) {
    auto i = routes_.find(req.method + " " + req.path);
    if (i == routes_.end()) {
      res.status = 405;
      res.set_content(json_error("method " + req.method + " not allowed on "
                                 + req.path),
                      "application/json");
      return;
    }
    http_request in;
    in.method = req.method;
    in.path = req.path;
    for (auto& [k, v] : req.params)
      in.query[k] = v;
    in.body = req.body;
    auto out = i->second(in);
    res.status = out.status;
    res.set_content(out.body, out.content_type.c_str());
  }

  std::map<std::string, http_route> routes_;
  httplib::Server svr_;
  std::thread thread_;
  int port_ = -1;
};

} // namespace

caf::expected<std::unique_ptr<http_server>>
start_http_server(const http_settings& settings,
                  std::map<std::string, http_route> routes) {
  auto srv = std::make_unique<server_impl>(settings, std::move(routes));
  if (auto err = srv->start(settings))
    return err;
  spdlog::info("http server listens on {}:{}", settings.host, srv->port());
  return std::unique_ptr<http_server>{std::move(srv)};
}

} // namespace orch
