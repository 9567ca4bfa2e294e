// The consumed NATS events, as the EVENT ROUTER receives them. The first
// byte picks the subject (its low two bits), the msgpack content type (bit
// 2) and a Nats-Msg-Id header (bit 3); the rest is the message. Properties:
// decoding never throws or crashes; a rejected message makes a dead letter
// that encodes; an approved plan goes through the PLANNER (derive_tasks) and
// makes an orchestration.plan.approved that encodes on both wires.

#include "actors/planner.hpp"
#include "messages/events.hpp"
#include "messages/json_codec.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace orch;

namespace {

void encode_both(const outbound_event& ev) {
  auto text = encode_envelope(ev, false);
  fuzz::require(!text.empty(), "a JSON envelope is not empty");
  auto packed = encode_envelope(ev, true);
  fuzz::require(!packed.empty(), "a msgpack envelope is not empty");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  static const char* subjects[] = {subject::plan_approved_in,
                                   subject::story_transitioned,
                                   subject::agent_completed,
                                   subject::agent_failed};
  inbound_event msg;
  msg.subject = subjects[data[0] & 3];
  if (data[0] & 4)
    msg.headers["Content-Type"] = "application/msgpack";
  if (data[0] & 8)
    msg.headers["Nats-Msg-Id"] = "fuzz-1";
  msg.data.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  event_meta meta;
  caf::error err;
  switch (data[0] & 3) {
    case 0: {
      auto plan = decode_plan_approved(msg, meta);
      if (!plan) {
        err = plan.error();
        break;
      }
      static const std::set<std::string> roles{"DEV", "QA", "ARCHITECT",
                                               "DEVOPS", "DATA"};
      auto tasks = derive_tasks(*plan, roles);
      if (!tasks) {
        err = tasks.error();
        break;
      }
      for (auto& t : *tasks)
        fuzz::require(!t.task_id.empty() && !t.role.empty(),
                      "derived tasks have ids and roles");
      encode_both(plan_approved_event(*plan, *tasks, meta.trace));
      break;
    }
    case 1: {
      auto x = decode_story_transitioned(msg, meta);
      if (!x) {
        err = x.error();
        break;
      }
      encode_both(phase_changed_event(*x, meta.trace));
      break;
    }
    default: {
      auto x = decode_agent_response(msg, meta);
      if (!x)
        err = x.error();
      break;
    }
  }
  if (err) {
    fuzz::require(!render(err).empty(), "a rejection says why");
    encode_both(dead_letter_event(msg, render(err)));
  }
  return 0;
}
