// EVENT ROUTER: decodes, validates and acts on consumed messages. Its answer
// tells the bridge what to do with the message: ack once the effect is
// durable, nak on a transient failure, term (dead letter) on bad input.

#include <set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

#include "actors/actors.hpp"
#include "actors/planner.hpp"
#include "messages/events.hpp"

namespace orch {

namespace {

constexpr auto call_timeout = std::chrono::seconds(30);

/// Redelivery delay after a transient failure.
constexpr int32_t retry_delay_ms = 1000;

struct event_router_state {
  static inline const char* name = "event-router";
  event_router_settings settings;
  std::set<std::string> roles;
};

using event_router_ptr
  = event_router_actor::stateful_pointer<event_router_state>;

verdict term(std::string reason) {
  return verdict{"term", 0, std::move(reason)};
}

verdict nak(std::string reason) {
  return verdict{"nak", retry_delay_ms, std::move(reason)};
}

void note_bare(const inbound_event& msg, const event_meta& meta) {
  if (meta.bare)
    spdlog::info("event router accepted a bare payload without envelope "
                 "subject={}",
                 msg.subject);
}

caf::result<verdict> on_plan(event_router_ptr self, const inbound_event& msg) {
  auto& st = self->state;
  event_meta meta;
  auto plan = decode_plan_approved(msg, meta);
  if (!plan)
    return term(render(plan.error()));
  note_bare(msg, meta);
  auto tasks = derive_tasks(*plan, st.roles);
  if (!tasks)
    return term("plan " + plan->plan_id + ": " + render(tasks.error()));
  for (auto& t : *tasks)
    stamp_trace(t, meta.trace);
  auto rp = self->make_response_promise<verdict>();
  auto approved = plan_approved_event(*plan, *tasks, meta.trace);
  auto plan_id = plan->plan_id;
  auto n = tasks->size();
  self->request(st.settings.queue, call_timeout, atom::add_v, std::move(*tasks))
    .then(
      [=](int32_t added) mutable {
        spdlog::info("event router enqueued plan plan_id={} tasks={} new={}",
                     plan_id, n, added);
        if (added > 0 && self->state.settings.dispatcher)
          self->send(self->state.settings.dispatcher, atom::wake_v);
        std::vector<outbound_event> evs{approved};
        self
          ->request(self->state.settings.sink, call_timeout, atom::publish_v,
                    std::move(evs))
          .then([=](int32_t) mutable { rp.deliver(verdict{}); },
                [=](caf::error& err) mutable {
                  rp.deliver(nak("publish of orchestration.plan.approved: "
                                 + render(err)));
                });
      },
      [=](caf::error& err) mutable {
        spdlog::warn("event router cannot enqueue plan plan_id={}: {}", plan_id,
                     render(err));
        if (code_of(err) == ec::invalid_argument)
          rp.deliver(term("plan " + plan_id + ": " + render(err)));
        else
          rp.deliver(nak("task queue: " + render(err)));
      });
  return rp;
}

caf::result<verdict> on_transition(event_router_ptr self,
                                   const inbound_event& msg) {
  event_meta meta;
  auto x = decode_story_transitioned(msg, meta);
  if (!x)
    return term(render(x.error()));
  note_bare(msg, meta);
  auto rp = self->make_response_promise<verdict>();
  std::vector<outbound_event> evs{phase_changed_event(*x, meta.trace)};
  self
    ->request(self->state.settings.sink, call_timeout, atom::publish_v,
              std::move(evs))
    .then([=](int32_t) mutable { rp.deliver(verdict{}); },
          [=](caf::error& err) mutable {
            rp.deliver(nak("publish of orchestration.phase.changed: "
                           + render(err)));
          });
  return rp;
}

caf::result<verdict> on_agent(event_router_ptr self, const inbound_event& msg) {
  event_meta meta;
  auto x = decode_agent_response(msg, meta);
  if (!x)
    return term(render(x.error()));
  if (self->state.settings.hub)
    self->send(self->state.settings.hub, std::move(*x));
  return verdict{};
}

} // namespace

namespace {

event_router_actor::behavior_type event_router(event_router_ptr self,
                                               event_router_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.roles.insert(st.settings.roles.begin(), st.settings.roles.end());
  return {
    [=](inbound_event& msg) -> caf::result<verdict> {
      auto& st = self->state;
      if (msg.data.size() > st.settings.max_payload)
        return term("payload of " + std::to_string(msg.data.size())
                    + " bytes exceeds the limit of "
                    + std::to_string(st.settings.max_payload)
                    + " bytes (MAX_PAYLOAD)");
      if (msg.subject == subject::plan_approved_in)
        return on_plan(self, msg);
      if (msg.subject == subject::story_transitioned)
        return on_transition(self, msg);
      if (msg.subject == subject::agent_completed
          || msg.subject == subject::agent_failed)
        return on_agent(self, msg);
      if (msg.subject == subject::agent_progress)
        return verdict{};
      return term("no handler for subject " + msg.subject);
    },
  };
}

} // namespace

event_router_actor spawn_event_router(caf::actor_system& sys,
                                      event_router_settings settings) {
  return sys.spawn(event_router, std::move(settings));
}

} // namespace orch
