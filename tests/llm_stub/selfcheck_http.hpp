#pragma once

/// @file
/// The HTTP side of `llm_stub_selfcheck` (selfcheck.cpp): one transfer with
/// libcurl (a GET or a JSON POST, with its status, headers, connections and
/// time), a chat request's body and a reply's content, and a client thread
/// that drives its share of a burst with a curl multi handle.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

namespace orch::test::selfcheck {

using json = nlohmann::json;

inline int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
    .count();
}

/// Outcome of one HTTP transfer.
struct result {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string headers;
  long connects = 0;
  int64_t ms = 0;
};

inline size_t append(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

/// One prepared easy handle plus the storage it points into.
struct transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  result res;
  int64_t started = 0;

  transfer() = default;
  transfer(const transfer&) = delete;
  transfer& operator=(const transfer&) = delete;

  ~transfer() {
    curl_slist_free_all(headers);
    if (easy != nullptr)
      curl_easy_cleanup(easy);
  }

  /// Prepares a GET (`post` empty) or a JSON POST.
  void prepare(const std::string& url, const std::string& post,
               long timeout_ms = 5000, CURL* reuse = nullptr) {
    if (reuse == nullptr) {
      easy = curl_easy_init();
      reuse = easy;
    } else {
      curl_easy_reset(reuse);
    }
    res = result{};
    body = post;
    curl_slist_free_all(headers);
    headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Authorization: Bearer tok-1");
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(reuse, CURLOPT_URL, url.c_str());
    curl_easy_setopt(reuse, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(reuse, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(reuse, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(reuse, CURLOPT_WRITEFUNCTION, &append);
    curl_easy_setopt(reuse, CURLOPT_WRITEDATA, &res.body);
    curl_easy_setopt(reuse, CURLOPT_HEADERFUNCTION, &append);
    curl_easy_setopt(reuse, CURLOPT_HEADERDATA, &res.headers);
    if (!post.empty()) {
      curl_easy_setopt(reuse, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(reuse, CURLOPT_POSTFIELDSIZE,
                       static_cast<long>(body.size()));
    }
    started = now_ms();
  }

  void collect(CURL* e, CURLcode code) {
    res.code = code;
    res.ms = now_ms() - started;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res.status);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &res.connects);
  }
};

inline result get(const std::string& url) {
  transfer t;
  t.prepare(url, "");
  t.collect(t.easy, curl_easy_perform(t.easy));
  return t.res;
}

inline result post(const std::string& url, const std::string& body,
            long timeout_ms = 5000) {
  transfer t;
  t.prepare(url, body, timeout_ms);
  t.collect(t.easy, curl_easy_perform(t.easy));
  return t.res;
}

inline std::string chat(const std::string& user, const std::string& system = "",
                 const char* model = nullptr) {
  json msgs = json::array();
  if (!system.empty())
    msgs.push_back(json{{"role", "system"}, {"content", system}});
  msgs.push_back(json{{"role", "user"}, {"content", user}});
  json j = json::object();
  if (model != nullptr)
    j["model"] = model;
  j["messages"] = msgs;
  j["temperature"] = 0.3;
  j["max_tokens"] = 256;
  return j.dump();
}

inline std::string content_of(const result& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded())
    return "<not json>";
  return j["choices"][0]["message"]["content"].get<std::string>();
}

inline bool has_header(const result& r, const std::string& line) {
  return r.headers.find(line + "\r\n") != std::string::npos;
}

/// One client thread: a curl multi handle driving its share of a burst.
struct client {
  CURLM* multi = nullptr;
  std::vector<std::unique_ptr<transfer>> ts;
  int done = 0;

  client() : multi(curl_multi_init()) {
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 100000L);
  }
  ~client() {
    ts.clear();
    curl_multi_cleanup(multi);
  }

  void prepare(const std::string& url, int first, int count) {
    ts.clear();
    done = 0;
    for (int i = first; i < first + count; ++i) {
      ts.push_back(std::make_unique<transfer>());
      ts.back()->prepare(url, chat("request #" + std::to_string(i)), 10000);
      curl_easy_setopt(ts.back()->easy, CURLOPT_PRIVATE, ts.back().get());
    }
  }

  void run(int64_t t0) {
    for (auto& t : ts) {
      t->started = t0;
      curl_multi_add_handle(multi, t->easy);
    }
    int running = 0;
    do {
      curl_multi_perform(multi, &running);
      CURLMsg* msg;
      int left = 0;
      while ((msg = curl_multi_info_read(multi, &left)) != nullptr) {
        if (msg->msg != CURLMSG_DONE)
          continue;
        transfer* t = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
        t->collect(msg->easy_handle, msg->data.result);
        curl_multi_remove_handle(multi, msg->easy_handle);
        ++done;
      }
      if (running > 0)
        curl_multi_poll(multi, nullptr, 0, 100, nullptr);
    } while (running > 0);
  }
};

} // namespace orch::test::selfcheck
