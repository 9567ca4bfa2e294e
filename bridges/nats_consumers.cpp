#include "bridges/nats_consumers.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "bridges/nats_link_impl.hpp"
#include "messages/events.hpp"

namespace orch {

using nats_detail::copy_msg;
using nats_detail::status_text;

std::vector<nats_consumer_spec> default_consumers() {
  return {
    {"PLANNING_EVENTS", "orch-planning-plan-approved", "planning.plan.approved"},
    {"PLANNING_EVENTS", "orch-planning-story-transitions",
     "planning.story.transitioned"},
    {"AGENT_RESPONSES", "orch-agent-response-completed-v3",
     "agent.response.completed"},
    {"AGENT_RESPONSES", "orch-agent-response-failed-v3",
     "agent.response.failed"},
    {"AGENT_RESPONSES", "orch-agent-response-progress-v3",
     "agent.response.progress"},
  };
}

namespace {

/// Creates the durable of `spec` (idempotent: an equal durable is fine).
natsStatus add_consumer(nats_link& link, const nats_consumer_spec& spec) {
  auto& s = link.settings;
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = spec.durable.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = static_cast<int64_t>(s.ack_wait_ms) * 1'000'000;
  cc.MaxDeliver = s.max_deliver;
  cc.FilterSubject = spec.subject.c_str();
  cc.MaxAckPending = std::max(s.max_unsettled * 2, 1000);
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  auto st = js_AddConsumer(&ci, link.js, spec.stream.c_str(), &cc, nullptr,
                           &jerr);
  if (ci)
    jsConsumerInfo_Destroy(ci);
  return st;
}

/// Settles messages by token; shared by the fetch thread and the actor.
struct settle_book {
  /// Messages by what became of them: received, ack, nak, term.
  std::atomic<int64_t> received{0};
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> naked{0};
  std::atomic<int64_t> termed{0};
  std::mutex mtx;
  std::condition_variable cv;
  std::unordered_map<uint64_t, natsMsg*> held;
  uint64_t next = 0;
  bool stopping = false;

  uint64_t hold(natsMsg* m) {
    std::lock_guard<std::mutex> guard{mtx};
    held.emplace(++next, m);
    return next;
  }

  natsMsg* take(uint64_t token) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = held.find(token);
    if (i == held.end())
      return nullptr;
    auto* m = i->second;
    held.erase(i);
    cv.notify_all();
    return m;
  }
};

using consumer_actor = caf::typed_actor<
  caf::reacts_to<inbound_event>,
  caf::reacts_to<atom::ack, uint64_t, verdict, inbound_event>>;

struct consumer_state {
  static inline const char* name = "nats-consumer";
  std::shared_ptr<settle_book> book;
  event_router_actor router;
  event_sink_actor sink;
  int32_t ack_wait_ms = 60000;
  int64_t max_deliver = 50;
};

void settle(consumer_state& st, uint64_t token, const verdict& v) {
  auto* m = st.book->take(token);
  if (!m)
    return;
  if (v.action == "ack") {
    natsMsg_Ack(m, nullptr);
    ++st.book->acked;
  } else if (v.action == "nak") {
    natsMsg_NakWithDelay(m, v.delay_ms, nullptr);
    ++st.book->naked;
  } else {
    natsMsg_Term(m, nullptr);
    ++st.book->termed;
  }
  natsMsg_Destroy(m);
}

consumer_actor::behavior_type
consumer(consumer_actor::stateful_pointer<consumer_state> self,
         std::shared_ptr<settle_book> book, event_router_actor router,
         event_sink_actor sink, int32_t ack_wait_ms, int32_t max_deliver) {
  auto& st = self->state;
  st.max_deliver = max_deliver;
  st.book = std::move(book);
  st.router = std::move(router);
  st.sink = std::move(sink);
  st.ack_wait_ms = ack_wait_ms;
  return {
    [=](inbound_event& msg) {
      auto token = msg.token;
      auto copy = msg;
      self
        ->request(self->state.router,
                  std::chrono::milliseconds(self->state.ack_wait_ms),
                  std::move(msg))
        .then(
          [=](verdict& v) {
            self->send(self, atom::ack_v, token, std::move(v), copy);
          },
          [=](caf::error& err) {
            self->send(self, atom::ack_v, token,
                       verdict{"nak", 1000, render(err)}, copy);
          });
    },
    [=](atom::ack, uint64_t token, verdict& v, inbound_event& msg) {
      auto& st = self->state;
      if (v.action == "nak") {
        if (msg.delivered >= st.max_deliver) {
          // JetStream would drop it silently after this delivery: keep it
          // in the dead-letter subject instead.
          v = verdict{"term", 0,
                      "gave up after " + std::to_string(msg.delivered)
                        + " deliveries: " + v.reason};
        } else {
          // Back off: 1 s, 2 s, 4 s ... at most 30 s between deliveries.
          auto shift = std::min<int64_t>(msg.delivered - 1, 5);
          v.delay_ms = std::min<int32_t>(
            30000, static_cast<int32_t>(v.delay_ms << std::max<int64_t>(0, shift)));
        }
      }
      if (v.action != "term") {
        if (v.action == "nak")
          spdlog::warn("nats consumer will retry {} (delivery {}): {}",
                       msg.subject, msg.delivered, v.reason);
        settle(st, token, v);
        return;
      }
      spdlog::warn("nats consumer dead-letters a message on {}: {}",
                   msg.subject, v.reason);
      std::vector<outbound_event> evs{dead_letter_event(msg, v.reason)};
      self->request(st.sink, caf::infinite, atom::publish_v, std::move(evs))
        .then([=](int32_t) { settle(self->state, token, v); },
              [=](caf::error&) {
                settle(self->state, token, verdict{"nak", 1000, ""});
              });
    },
  };
}

class consumers_impl : public nats_consumers {
public:
  consumers_impl(nats_link_ptr link, std::vector<nats_consumer_spec> specs,
                 std::vector<std::shared_ptr<settle_book>> books,
                 std::vector<consumer_actor> actors)
      : link_(std::move(link)),
        specs_(std::move(specs)),
        books_(std::move(books)),
        actors_(std::move(actors)) {
    subs_.resize(specs_.size(), nullptr);
    for (size_t i = 0; i < specs_.size(); ++i)
      threads_.emplace_back([this, i] { loop(i); });
  }

  ~consumers_impl() override {
    stop();
  }

  void stop() override {
    if (stopped_.exchange(true))
      return;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto* s : subs_)
        if (s)
          natsSubscription_Unsubscribe(s);
    }
    for (auto& b : books_) {
      std::lock_guard<std::mutex> guard{b->mtx};
      b->stopping = true;
      b->cv.notify_all();
    }
    for (auto& t : threads_)
      t.join();
    threads_.clear();
    // Whatever was not settled goes back to JetStream at once.
    for (auto& b : books_) {
      std::lock_guard<std::mutex> guard{b->mtx};
      for (auto& [token, m] : b->held) {
        natsMsg_Nak(m, nullptr);
        natsMsg_Destroy(m);
      }
      b->held.clear();
    }
    for (auto& a : actors_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto*& s : subs_)
      if (s) {
        natsSubscription_Destroy(s);
        s = nullptr;
      }
  }

  std::map<std::string, int64_t> counters() const override {
    std::map<std::string, int64_t> out;
    for (size_t i = 0; i < specs_.size(); ++i) {
      auto& b = *books_[i];
      auto& subj = specs_[i].subject;
      out[subj + " received"] = b.received;
      out[subj + " ack"] = b.acked;
      out[subj + " nak"] = b.naked;
      out[subj + " term"] = b.termed;
    }
    return out;
  }

  int64_t unsettled() const override {
    int64_t n = 0;
    for (auto& b : books_) {
      std::lock_guard<std::mutex> guard{b->mtx};
      n += static_cast<int64_t>(b->held.size());
    }
    return n;
  }

private:
  /// Creates the durable and binds to it; false while NATS is not there.
  bool bind(size_t i) {
    auto& spec = specs_[i];
    auto st = add_consumer(*link_, spec);
    if (st != NATS_OK) {
      spdlog::debug("nats consumer {} cannot be created yet: {}", spec.durable,
                    status_text(st));
      return false;
    }
    jsErrCode jerr = static_cast<jsErrCode>(0);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = spec.stream.c_str();
    so.Consumer = spec.durable.c_str();
    so.ManualAck = true;
    natsSubscription* sub = nullptr;
    st = js_PullSubscribe(&sub, link_->js, spec.subject.c_str(),
                          spec.durable.c_str(), nullptr, &so, &jerr);
    if (st != NATS_OK) {
      spdlog::debug("nats consumer {} cannot bind yet: {}", spec.durable,
                    status_text(st));
      return false;
    }
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopped_) {
      natsSubscription_Destroy(sub);
      return false;
    }
    subs_[i] = sub;
    spdlog::info("nats consumer bound durable {} on {}", spec.durable,
                 spec.subject);
    return true;
  }

  void loop(size_t i) {
    auto& book = *books_[i];
    auto max_unsettled = static_cast<size_t>(link_->settings.max_unsettled);
    while (!stopped_) {
      natsSubscription* sub = nullptr;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        sub = subs_[i];
      }
      if (!sub) {
        if (!link_->streams_ready || !bind(i)) {
          std::unique_lock<std::mutex> guard{book.mtx};
          book.cv.wait_for(guard, std::chrono::milliseconds(500),
                           [&] { return book.stopping; });
        }
        continue;
      }
      size_t room = 0;
      {
        std::unique_lock<std::mutex> guard{book.mtx};
        book.cv.wait(guard, [&] {
          return book.stopping || book.held.size() < max_unsettled;
        });
        if (book.stopping)
          break;
        room = max_unsettled - book.held.size();
      }
      natsMsgList list{nullptr, 0};
      jsErrCode jerr = static_cast<jsErrCode>(0);
      auto batch = static_cast<int>(
        std::min<size_t>(room, static_cast<size_t>(link_->settings.fetch_batch)));
      auto st = natsSubscription_Fetch(&list, sub, batch, 1000, &jerr);
      if (st == NATS_OK) {
        for (int k = 0; k < list.Count; ++k) {
          auto* m = list.Msgs[k];
          list.Msgs[k] = nullptr;
          auto ev = copy_msg(m);
          ev.token = book.hold(m);
          ++book.received;
          caf::anon_send(actors_[i], std::move(ev));
        }
        natsMsgList_Destroy(&list);
        continue;
      }
      natsMsgList_Destroy(&list);
      if (stopped_)
        break;
      if (st != NATS_TIMEOUT) {
        // A server restart or a broken link: wait a little and go on.
        std::unique_lock<std::mutex> guard{book.mtx};
        book.cv.wait_for(guard, std::chrono::milliseconds(200),
                         [&] { return book.stopping; });
      }
    }
  }

  nats_link_ptr link_;
  std::vector<nats_consumer_spec> specs_;
  std::vector<std::shared_ptr<settle_book>> books_;
  std::vector<consumer_actor> actors_;
  std::vector<natsSubscription*> subs_;
  std::vector<std::thread> threads_;
  std::mutex mtx_;
  std::atomic<bool> stopped_{false};
};

} // namespace

caf::error ensure_consumers(nats_link& link,
                            const std::vector<nats_consumer_spec>& specs) {
  for (auto& spec : specs)
    if (auto st = add_consumer(link, spec); st != NATS_OK)
      return caf::make_error(ec::internal, "durable " + spec.durable + " on "
                                             + spec.stream + ": "
                                             + status_text(st));
  return caf::none;
}

std::unique_ptr<nats_consumers>
start_consumers(caf::actor_system& sys, nats_link_ptr link,
                std::vector<nats_consumer_spec> specs,
                event_router_actor router, event_sink_actor sink) {
  std::vector<std::shared_ptr<settle_book>> books;
  std::vector<consumer_actor> actors;
  for (size_t i = 0; i < specs.size(); ++i) {
    books.push_back(std::make_shared<settle_book>());
    actors.push_back(sys.spawn(consumer, books[i], router, sink,
                               link->settings.ack_wait_ms,
                               link->settings.max_deliver));
  }
  return std::make_unique<consumers_impl>(link, std::move(specs),
                                          std::move(books), std::move(actors));
}
} // namespace orch
