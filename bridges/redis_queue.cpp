#include "bridges/redis_queue.hpp"

#include <cstdlib>
#include <functional>
#include <set>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "bridges/redis_engine.hpp"
#include "bridges/redis_queue_enqueue_script.hpp"
#include "bridges/redis_queue_migrations.hpp"
#include "bridges/redis_queue_retention.hpp"
#include "bridges/redis_queue_scripts.hpp"
#include "bridges/redis_queue_task_scripts.hpp"
#include "messages/json_codec.hpp"
#include "messages/msgpack_codec.hpp"

namespace orch {

// -- URLs ---------------------------------------------------------------------

caf::expected<redis_endpoint> parse_redis_url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return caf::make_error(ec::invalid_config,
                           "REDIS_URL='" + redact_url(url) + "': " + why
                             + "; write redis://[:password@]host[:port][/db]");
  };
  static constexpr std::string_view scheme = "redis://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    // Not echoed: what is there may be a password.
    return caf::make_error(ec::invalid_config,
                           "REDIS_URL must start with redis://; write "
                           "redis://[:password@]host[:port][/db]");
  redis_endpoint out;
  auto rest = url.substr(scheme.size());
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    auto auth = rest.substr(0, at);
    out.password = auth.substr(
      auth.find(':') == std::string::npos ? 0 : auth.find(':') + 1);
    rest = rest.substr(at + 1);
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    auto db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      char* end = nullptr;
      out.db = static_cast<int>(std::strtol(db.c_str(), &end, 10));
      if (*end != '\0' || out.db < 0)
        return bad("database '" + db + "' is not a number");
    }
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    char* end = nullptr;
    auto port = rest.substr(colon + 1);
    out.port = static_cast<int>(std::strtol(port.c_str(), &end, 10));
    if (*end != '\0' || out.port < 1 || out.port > 65535)
      return bad("port '" + port + "' is not a port");
    rest = rest.substr(0, colon);
  }
  if (!rest.empty())
    out.host = rest;
  return out;
}

namespace {

using redis_front_actor = task_queue_actor::extend<
  caf::reacts_to<atom::result, uint64_t, redis_value>>;

// -- the front actor ----------------------------------------------------------

/// Turns a Redis error reply into our error codes.
caf::error to_error(const redis_value& v) {
  auto& s = v.str;
  auto colon = s.find(": ");
  auto code = s.substr(0, colon);
  // Lua errors arrive as "ERR ... : not_found: ..." or plain.
  auto find = [&](const char* name) {
    return s.find(std::string{name} + ": ") != std::string::npos;
  };
  auto text = colon == std::string::npos ? s : s.substr(colon + 2);
  if (find("not_found"))
    return caf::make_error(ec::not_found, s.substr(s.find("not_found: ") + 11));
  if (find("invalid_argument"))
    return caf::make_error(ec::invalid_argument,
                           s.substr(s.find("invalid_argument: ") + 18));
  if (code == "unavailable")
    return caf::make_error(ec::agent_failed, text);
  return caf::make_error(ec::internal, "redis: " + s);
}

/// Fields of a task record as the scripts return it: id, spec, state,
/// attempts, max, owner, lease, nb, seq, result, error.
constexpr size_t record_fields = 11;

/// A number of a reply: Lua numbers arrive as integers, stored strings as
/// strings.
int64_t number(const redis_value& x) {
  return x.type == REDIS_REPLY_INTEGER ? x.integer : std::atoll(x.str.c_str());
}

/// The record whose fields start at `e`.
caf::expected<queued_task> to_task(const redis_value* e) {
  auto spec = from_msgpack<task_spec>(e[1].str.data(), e[1].str.size());
  if (!spec)
    return std::move(spec.error());
  queued_task q;
  q.task = std::move(*spec);
  q.state = e[2].str;
  q.attempts = static_cast<int32_t>(number(e[3]));
  q.max_attempts = static_cast<int32_t>(number(e[4]));
  q.lease_owner = e[5].str;
  q.lease_expires_ms = number(e[6]);
  q.not_before_ms = number(e[7]);
  q.seq = number(e[8]);
  q.result = e[9].str;
  q.error = e[10].str;
  return q;
}

caf::expected<queued_task> to_task(const redis_value& v) {
  if (v.type != REDIS_REPLY_ARRAY || v.elements.size() != record_fields)
    return caf::make_error(ec::internal, "redis: malformed task record");
  return to_task(v.elements.data());
}

/// Records as lease and list return them: their fields one after another.
caf::expected<std::vector<queued_task>> to_tasks(const redis_value& v) {
  if (v.type != REDIS_REPLY_ARRAY || v.elements.size() % record_fields != 0)
    return caf::make_error(ec::internal, "redis: malformed task records");
  std::vector<queued_task> out;
  out.reserve(v.elements.size() / record_fields);
  for (size_t i = 0; i < v.elements.size(); i += record_fields) {
    auto t = to_task(v.elements.data() + i);
    if (!t)
      return std::move(t.error());
    out.push_back(std::move(*t));
  }
  return out;
}

/// Fields of a leased task as the lease script returns it: spec,
/// attempts, m, and nb and error only after attempts over 1.
constexpr size_t leased_fields = 3;

/// The seq and max attempts of a task's column m: "<rank> <seq> <max>".
std::pair<int64_t, int32_t> seq_and_max(const std::string& m) {
  auto a = m.find(' ');
  auto b = a == std::string::npos ? a : m.find(' ', a + 1);
  if (b == std::string::npos)
    return {0, 0};
  return {std::atoll(m.c_str() + a + 1),
          static_cast<int32_t>(std::atoi(m.c_str() + b + 1))};
}

/// The tasks a lease by `worker` until `expires` took, from the lease
/// script's reply (the fields all of them share are not sent).
caf::expected<std::vector<queued_task>>
to_leased(redis_value& v, const std::string& worker, int64_t expires) {
  auto malformed = [] {
    return caf::make_error(ec::internal, "redis: malformed leased tasks");
  };
  if (v.type != REDIS_REPLY_ARRAY)
    return malformed();
  std::vector<queued_task> out;
  out.reserve(v.elements.size() / leased_fields);
  auto n = v.elements.size();
  for (size_t i = 0; i < n;) {
    if (n - i < leased_fields)
      return malformed();
    auto* e = v.elements.data() + i;
    auto spec = from_msgpack<task_spec>(e[0].str.data(), e[0].str.size());
    if (!spec)
      return std::move(spec.error());
    auto& q = out.emplace_back();
    q.task = std::move(*spec);
    q.state = "IN_PROGRESS";
    q.attempts = static_cast<int32_t>(number(e[1]));
    std::tie(q.seq, q.max_attempts) = seq_and_max(e[2].str);
    q.lease_owner = worker;
    q.lease_expires_ms = expires;
    i += leased_fields;
    if (q.attempts > 1) {
      if (n - i < 2)
        return malformed();
      q.not_before_ms = number(e[3]);
      q.error = std::move(e[4].str);
      i += 2;
    }
  }
  return out;
}

caf::expected<std::map<std::string, int64_t>> to_counts(const redis_value& v) {
  std::map<std::string, int64_t> out;
  for (size_t i = 0; i + 1 < v.elements.size(); i += 2)
    out[v.elements[i].str] = v.elements[i + 1].integer;
  return out;
}

/// An outbox event as stored in Redis (JSON).
std::string event_blob(const outbound_event& ev) {
  nlohmann::json j{{"subject", ev.subject},
                   {"key", ev.idempotency_key},
                   {"payload", ev.payload},
                   {"correlation_id", ev.correlation_id},
                   {"causation_id", ev.causation_id},
                   {"traceparent", ev.traceparent}};
  return compact_json(j);
}

caf::expected<outbound_event> event_from_blob(const std::string& blob) {
  auto j = nlohmann::json::parse(blob, nullptr, false);
  if (!j.is_object())
    return caf::make_error(ec::internal, "redis: malformed outbox entry");
  outbound_event ev;
  ev.subject = j.value("subject", "");
  ev.idempotency_key = j.value("key", "");
  ev.payload = j.value("payload", "");
  ev.correlation_id = j.value("correlation_id", "");
  ev.causation_id = j.value("causation_id", "");
  ev.traceparent = j.value("traceparent", "");
  ev.outbox = true;
  return ev;
}

/// Outbox events from a flat reply key, blob, ...
caf::expected<std::vector<outbound_event>> events_of(redis_value& v) {
  std::vector<outbound_event> out;
  for (size_t i = 0; i + 1 < v.elements.size(); i += 2)
    if (auto ev = event_from_blob(v.elements[i + 1].str))
      out.push_back(std::move(*ev));
  return out;
}

/// Appends outbox events as (key, when, blob) triples.
void add_events(std::vector<std::string>& argv,
                const std::vector<outbound_event>& events) {
  for (auto& ev : events) {
    argv.push_back(ev.idempotency_key);
    argv.push_back(ev.when);
    argv.push_back(event_blob(ev));
  }
}

struct redis_front_state {
  static inline const char* name = "redis-queue";
  redis_queue_settings settings;
  std::unique_ptr<redis_engine> engine;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, std::function<void(redis_value&)>> pending;

  int64_t now() const {
    return settings.queue.clock ? settings.queue.clock() : now_ms();
  }

  /// SHA1 of each loaded script, by its body.
  std::unordered_map<const char*, std::string> shas;
  /// Scripts with a SCRIPT LOAD under way.
  std::set<const char*> loading;

  /// The full text of a script: the limits of retention, the prelude, the
  /// transitions and retention, the moves from the layouts before, the body
  /// as a function (`main`), and the epilogue that writes what the body
  /// changed however it returns.
  std::string text(const char* body) const {
    auto& q = settings.queue;
    return redis_lua::retention_config(q.retain_ms, q.retain_max,
                                       q.tombstones_max)
           + redis_lua::prelude + redis_lua::transitions
           + redis_lua::retention + redis_lua::migrations
           + "local function main()\n" + body
           + "\nend\n" + redis_lua::epilogue;
  }

  /// EVALSHA once Redis knows the script (SCRIPT LOAD), EVAL before.
  std::vector<std::string> script(const char* body) const {
    auto i = shas.find(body);
    if (i == shas.end())
      return {"EVAL", text(body), "0", settings.prefix, std::to_string(now())};
    return {"EVALSHA", i->second, "0", settings.prefix, std::to_string(now())};
  }

  std::string base() const {
    return std::to_string(settings.queue.backoff_base_ms);
  }

  std::string maxb() const {
    return std::to_string(settings.queue.backoff_max_ms);
  }
};

using redis_front_ptr = redis_front_actor::stateful_pointer<redis_front_state>;

/// The command prefix for a script; asks Redis to cache the script (SCRIPT
/// LOAD) the first time, so that later calls send only its SHA1.
std::vector<std::string> script(redis_front_ptr self, const char* body) {
  auto& st = self->state;
  if (st.shas.count(body) == 0 && st.loading.insert(body).second) {
    auto id = ++st.next_id;
    st.pending.emplace(id, [self, body](redis_value& v) {
      auto& st = self->state;
      st.loading.erase(body);
      if (v.type == REDIS_REPLY_STRING)
        st.shas[body] = v.str;
    });
    st.engine->submit(
      pending_command{id,
                      caf::actor_cast<caf::actor>(self),
                      {"SCRIPT", "LOAD", st.text(body)}});
  }
  return st.script(body);
}

/// Sends `argv` and answers the promise with `convert(reply)`.
template<class T, class Convert>
caf::typed_response_promise<T>
call(redis_front_ptr self, std::vector<std::string> argv, Convert convert) {
  auto rp = self->template make_response_promise<T>();
  auto& st = self->state;
  auto id = ++st.next_id;
  // After a Redis restart the script cache is empty: send the full text once
  // more and load it again.
  std::shared_ptr<std::vector<std::string>> retry;
  if (argv[0] == "EVALSHA")
    retry = std::make_shared<std::vector<std::string>>(argv);
  auto answer = [rp, convert](redis_value& v) mutable {
    if (v.type == REDIS_REPLY_ERROR) {
      rp.deliver(to_error(v));
      return;
    }
    caf::expected<T> x = convert(v);
    if (x)
      rp.deliver(std::move(*x));
    else
      rp.deliver(std::move(x.error()));
  };
  st.pending.emplace(id, [self, answer, retry](redis_value& v) mutable {
    if (v.type == REDIS_REPLY_ERROR && retry
        && v.str.rfind("NOSCRIPT", 0) == 0) {
      auto& st = self->state;
      for (auto i = st.shas.begin(); i != st.shas.end(); ++i)
        if (i->second == (*retry)[1]) {
          (*retry)[0] = "EVAL";
          (*retry)[1] = st.text(i->first);
          st.shas.erase(i);
          break;
        }
      auto next = ++st.next_id;
      st.pending.emplace(next, std::move(answer));
      st.engine->submit(pending_command{next, caf::actor_cast<caf::actor>(self),
                                        std::move(*retry)});
      return;
    }
    answer(v);
  });
  st.engine->submit(
    pending_command{id, caf::actor_cast<caf::actor>(self), std::move(argv)});
  return rp;
}

redis_front_actor::behavior_type redis_front(redis_front_ptr self,
                                             redis_queue_settings settings,
                                             redis_endpoint ep) {
  auto reconnect = settings.reconnect_ms;
  self->state.settings = std::move(settings);
  self->state.engine = std::make_unique<redis_engine>(std::move(ep), reconnect);
  auto one = [](redis_value& v) { return to_task(v); };
  return {
    [=](atom::add, std::vector<task_spec>& xs) -> caf::result<int32_t> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::enqueue);
      argv.push_back(std::to_string(st.settings.queue.max_attempts));
      for (auto& t : xs) {
        if (auto why = unqueueable(t))
          return caf::make_error(ec::invalid_argument, std::move(*why));
        argv.push_back(t.task_id);
        argv.push_back(t.plan_id);
        argv.push_back(std::to_string(t.priority));
        argv.push_back(std::to_string(t.dependencies.size()));
        for (auto& d : t.dependencies)
          argv.push_back(d);
        auto spec = to_msgpack(t);
        argv.emplace_back(spec.begin(), spec.end());
      }
      return call<int32_t>(self, std::move(argv), [](redis_value& v) {
        return caf::expected<int32_t>{static_cast<int32_t>(v.integer)};
      });
    },
    [=](atom::lease, std::string& worker, int32_t ttl,
        int32_t n) -> caf::result<std::vector<queued_task>> {
      auto& st = self->state;
      if (is_blank(worker) || ttl <= 0 || n <= 0)
        return caf::make_error(ec::invalid_argument,
                               "lease needs a worker id, a positive ttl and "
                               "a positive count");
      auto argv = script(self, redis_lua::lease);
      auto expires = std::atoll(argv[4].c_str()) + ttl;
      argv.insert(argv.end(), {worker, std::to_string(ttl), std::to_string(n),
                               st.base(), st.maxb()});
      return call<std::vector<queued_task>>(
        self, std::move(argv),
        [worker = std::move(worker), expires](redis_value& v) {
          return to_leased(v, worker, expires);
        });
    },
    [=](atom::extend, std::string& id, std::string& worker,
        int32_t ttl) -> caf::result<queued_task> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::extend);
      argv.insert(argv.end(),
                  {id, worker, std::to_string(ttl), st.base(), st.maxb()});
      return call<queued_task>(self, std::move(argv), one);
    },
    [=](atom::complete, std::string& id, std::string& worker,
        std::string& result) -> caf::result<queued_task> {
      auto argv = script(self, redis_lua::complete);
      argv.insert(argv.end(), {id, worker, result});
      return call<queued_task>(self, std::move(argv), one);
    },
    [=](atom::fail, std::string& id, std::string& worker,
        std::string& error) -> caf::result<queued_task> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::fail);
      argv.insert(argv.end(), {id, worker, error, st.base(), st.maxb()});
      return call<queued_task>(self, std::move(argv), one);
    },
    [=](atom::complete, std::string& id, std::string& worker,
        std::string& result,
        std::vector<outbound_event>& events) -> caf::result<queued_task> {
      auto argv = script(self, redis_lua::complete);
      argv.insert(argv.end(), {id, worker, result});
      add_events(argv, events);
      return call<queued_task>(self, std::move(argv), one);
    },
    [=](atom::fail, std::string& id, std::string& worker, std::string& error,
        std::vector<outbound_event>& events) -> caf::result<queued_task> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::fail);
      argv.insert(argv.end(), {id, worker, error, st.base(), st.maxb()});
      add_events(argv, events);
      return call<queued_task>(self, std::move(argv), one);
    },
    [=](atom::complete, std::vector<task_completion>& xs)
      -> caf::result<std::vector<caf::error>> {
      auto argv = script(self, redis_lua::complete_many);
      for (auto& c : xs) {
        argv.insert(argv.end(),
                    {std::move(c.task_id), std::move(c.worker),
                     std::move(c.result), std::to_string(c.events.size())});
        add_events(argv, c.events);
      }
      // The script names only the completions that failed.
      return call<std::vector<caf::error>>(
        self, std::move(argv), [n = xs.size()](redis_value& v) {
          using result = caf::expected<std::vector<caf::error>>;
          std::vector<caf::error> out(n);
          auto& e = v.elements;
          if (v.type != REDIS_REPLY_ARRAY || e.size() % 2 != 0)
            return result{caf::make_error(ec::internal,
                                          "redis: malformed completions")};
          for (size_t i = 0; i < e.size(); i += 2) {
            auto k = number(e[i]);
            if (k < 1 || static_cast<size_t>(k) > n)
              return result{caf::make_error(ec::internal,
                                            "redis: malformed completions")};
            out[static_cast<size_t>(k) - 1] = to_error(e[i + 1]);
          }
          return result{std::move(out)};
        });
    },
    [=](atom::release, std::string& id,
        std::string& worker) -> caf::result<queued_task> {
      auto argv = script(self, redis_lua::release);
      argv.insert(argv.end(), {id, worker});
      return call<queued_task>(self, std::move(argv), one);
    },
    [=](atom::counts,
        std::string& plan) -> caf::result<std::map<std::string, int64_t>> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::plan_counts);
      argv.insert(argv.end(), {plan, st.base(), st.maxb()});
      return call<std::map<std::string, int64_t>>(
        self, std::move(argv), [](redis_value& v) { return to_counts(v); });
    },
    [=](atom::finished, std::string& plan) -> caf::result<bool> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::plan_finished);
      argv.insert(argv.end(), {plan, st.base(), st.maxb()});
      return call<bool>(self, std::move(argv), [](redis_value& v) {
        return caf::expected<bool>{v.integer == 1};
      });
    },
    [=](atom::outbox) -> caf::result<std::vector<outbound_event>> {
      return call<std::vector<outbound_event>>(
        self, script(self, redis_lua::outbox), events_of);
    },
    [=](atom::outbox,
        std::string& plan) -> caf::result<std::vector<outbound_event>> {
      auto argv = script(self, redis_lua::outbox_plan);
      argv.push_back(plan);
      return call<std::vector<outbound_event>>(self, std::move(argv),
                                               events_of);
    },
    [=](atom::outbox,
        std::vector<std::string>& keys) -> caf::result<int32_t> {
      auto argv = script(self, redis_lua::outbox_drop);
      argv.insert(argv.end(), keys.begin(), keys.end());
      return call<int32_t>(self, std::move(argv), [](redis_value& v) {
        return caf::expected<int32_t>{static_cast<int32_t>(v.integer)};
      });
    },
    [=](atom::cancel, std::string& id) -> caf::result<queued_task> {
      auto argv = script(self, redis_lua::cancel);
      argv.push_back(id);
      return call<queued_task>(self, std::move(argv), one);
    },
    [=](atom::status, std::string& id) -> caf::result<queued_task> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::status);
      argv.insert(argv.end(), {id, st.base(), st.maxb()});
      return call<queued_task>(self, std::move(argv), one);
    },
    [=](atom::list,
        std::string& state) -> caf::result<std::vector<queued_task>> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::list);
      argv.insert(argv.end(), {state, st.base(), st.maxb()});
      return call<std::vector<queued_task>>(
        self, std::move(argv), [](redis_value& v) { return to_tasks(v); });
    },
    [=](atom::list, std::string& state,
        std::string& plan) -> caf::result<std::vector<queued_task>> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::list_plan);
      argv.insert(argv.end(), {state, plan, st.base(), st.maxb()});
      return call<std::vector<queued_task>>(
        self, std::move(argv), [](redis_value& v) { return to_tasks(v); });
    },
    [=](atom::counts) -> caf::result<std::map<std::string, int64_t>> {
      auto& st = self->state;
      auto argv = script(self, redis_lua::counts);
      argv.insert(argv.end(), {st.base(), st.maxb()});
      return call<std::map<std::string, int64_t>>(
        self, std::move(argv), [](redis_value& v) { return to_counts(v); });
    },
    [=](atom::tick) {
      // Expired leases are handled by every lease, status, list and counts
      // call inside Redis; nothing to sweep here.
    },
    [=](atom::result, uint64_t id, redis_value& v) {
      auto& st = self->state;
      auto i = st.pending.find(id);
      if (i == st.pending.end())
        return;
      auto f = std::move(i->second);
      st.pending.erase(i);
      f(v);
    },
  };
}

} // namespace

caf::expected<task_queue_actor>
spawn_redis_queue(caf::actor_system& sys, redis_queue_settings settings) {
  auto ep = parse_redis_url(settings.url);
  if (!ep)
    return std::move(ep.error());
  auto front = sys.spawn(redis_front, std::move(settings), std::move(*ep));
  return caf::actor_cast<task_queue_actor>(front);
}

bool await_queue(caf::actor_system& sys, const task_queue_actor& q,
                 std::chrono::milliseconds limit) {
  caf::scoped_actor self{sys};
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    bool up = false;
    self->request(q, std::chrono::seconds(5), atom::counts_v, std::string{"-"})
      .receive([&](std::map<std::string, int64_t>&) { up = true; },
               [](caf::error&) {});
    if (up)
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

} // namespace orch
