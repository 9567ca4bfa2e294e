// AGENT backend `remote` and the AGENT HUB: every call of a council member is
// a command to an external worker (agent.cmd.{role}.{op}), answered on
// agent.response.completed / .failed and matched by correlation id, task id
// and agent id. A late or duplicate response is ignored.

#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

#include "actors/actors.hpp"
#include "actors/prompts.hpp"
#include "messages/events.hpp"
#include "messages/json_codec.hpp"

namespace orch {

namespace {

// -- AGENT HUB ----------------------------------------------------------------

struct pending_call {
  agent_command cmd;
  caf::typed_response_promise<agent_response> rp;
};

struct agent_hub_state {
  static inline const char* name = "agent-hub";
  event_sink_actor sink;
  std::unordered_map<std::string, pending_call> pending;
};

using agent_hub_ptr = agent_hub_actor::stateful_pointer<agent_hub_state>;

agent_hub_actor::behavior_type agent_hub(agent_hub_ptr self,
                                         event_sink_actor sink) {
  self->state.sink = std::move(sink);
  return {
    [=](atom::run, agent_command& cmd) -> caf::result<agent_response> {
      auto& st = self->state;
      auto rp = self->make_response_promise<agent_response>();
      auto corr = cmd.correlation_id;
      self->send(st.sink, atom::progress_v, agent_command_event(cmd));
      if (cmd.timeout_ms > 0)
        self->delayed_send(self, std::chrono::milliseconds(cmd.timeout_ms),
                           atom::expire_v, corr);
      st.pending.emplace(corr, pending_call{std::move(cmd), rp});
      return rp;
    },
    [=](agent_response& resp) {
      auto& st = self->state;
      auto i = st.pending.find(resp.correlation_id);
      if (i == st.pending.end() || i->second.cmd.task_id != resp.task_id
          || i->second.cmd.agent_id != resp.agent_id) {
        spdlog::debug("agent hub ignores a late or unknown response "
                      "task_id={} agent_id={} correlation_id={}",
                      resp.task_id, resp.agent_id, resp.correlation_id);
        return;
      }
      auto rp = i->second.rp;
      st.pending.erase(i);
      rp.deliver(std::move(resp));
    },
    [=](atom::expire, const std::string& corr) {
      auto& st = self->state;
      auto i = st.pending.find(corr);
      if (i == st.pending.end())
        return;
      auto rp = i->second.rp;
      auto cmd = std::move(i->second.cmd);
      st.pending.erase(i);
      rp.deliver(caf::make_error(
        ec::timeout, "remote agent " + cmd.agent_id + " did not answer "
                       + cmd.op + " within " + std::to_string(cmd.timeout_ms)
                       + " ms"));
    },
  };
}

// -- AGENT (remote) -----------------------------------------------------------

struct remote_agent_state {
  static inline const char* name = "remote-agent";
  agent_spec spec;
  agent_hub_actor hub;
  int32_t timeout_ms = 60000;
  uint64_t calls = 0;
  /// Distinguishes this process's correlation ids from earlier ones.
  int64_t epoch = 0;
};

using remote_agent_ptr = agent_actor::stateful_pointer<remote_agent_state>;


/// Sends one command through the hub; `then` gets the content.
template<class T, class F>
caf::typed_response_promise<T> call(remote_agent_ptr self,
                                    const task_spec& task, const char* op,
                                    std::string input, F then) {
  auto& st = self->state;
  auto rp = self->make_response_promise<T>();
  agent_command cmd;
  cmd.task_id = task.task_id;
  cmd.agent_id = st.spec.agent_id;
  cmd.role = st.spec.role;
  cmd.op = op;
  cmd.correlation_id = st.spec.agent_id + ":" + task.task_id + ":" + op + ":"
                       + std::to_string(st.epoch) + "-"
                       + std::to_string(++st.calls);
  cmd.input = std::move(input);
  cmd.timeout_ms = task.constraints.timeout_seconds > 0
                     ? task.constraints.timeout_seconds * 1000
                     : st.timeout_ms;
  self->request(st.hub, caf::infinite, atom::run_v, std::move(cmd))
    .then(
      [=](agent_response& resp) mutable {
        if (!resp.ok) {
          rp.deliver(caf::make_error(
            ec::agent_failed, "remote agent " + resp.agent_id + " failed ("
                                + resp.error_type + "): " + resp.error));
          return;
        }
        rp.deliver(then(std::move(resp.content)));
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

agent_actor::behavior_type remote_agent(remote_agent_ptr self, agent_spec spec,
                                        agent_hub_actor hub,
                                        int32_t timeout_ms) {
  auto& st = self->state;
  st.spec = std::move(spec);
  st.hub = std::move(hub);
  st.timeout_ms = timeout_ms;
  st.epoch = now_ms();
  return {
    [=](atom::generate, const task_ref& task) -> caf::result<proposal> {
      auto n = self->state.calls + 1;
      return call<proposal>(self, *task, "generate",
                            "{\"task\":" + to_json(*task) + "}",
                            [=](std::string content) {
                              auto& st = self->state;
                              proposal p;
                              p.id = st.spec.agent_id + "/" + std::to_string(n);
                              p.author_id = st.spec.agent_id;
                              p.author_role = st.spec.role;
                              p.content = std::move(content);
                              p.created_at_ms = now_ms();
                              return p;
                            });
    },
    [=](atom::critique, const task_ref& task, const proposal_ref& target,
        int32_t round) -> caf::result<critique> {
      critique base;
      base.critic_id = self->state.spec.agent_id;
      base.proposal_id = target->id;
      base.target_author_id = target->author_id;
      base.round = round;
      return call<critique>(self, *task, "critique",
                            "{\"task\":" + to_json(*task)
                              + ",\"proposal\":" + to_json(*target)
                              + ",\"round\":" + std::to_string(round) + "}",
                            [=](std::string content) {
                              auto c = base;
                              c.issues = list_items(content);
                              if (c.issues.empty() && !is_blank(content))
                                c.issues.push_back(content);
                              c.content = std::move(content);
                              return c;
                            });
    },
    [=](atom::revise, const task_ref& task, const proposal_ref& own,
        const std::vector<critique>& feedback) -> caf::result<proposal> {
      std::string fb = "[";
      for (size_t i = 0; i < feedback.size(); ++i)
        fb += (i > 0 ? "," : "") + to_json(feedback[i]);
      fb += "]";
      return call<proposal>(self, *task, "revise",
                            "{\"task\":" + to_json(*task) + ",\"proposal\":"
                              + to_json(*own) + ",\"critiques\":" + fb + "}",
                            [=](std::string content) {
                              auto p = *own;
                              p.revisions.push_back(std::move(p.content));
                              p.content = std::move(content);
                              p.created_at_ms = now_ms();
                              return p;
                            });
    },
    [=](atom::info) -> caf::result<agent_spec> { return self->state.spec; },
  };
}

} // namespace

agent_hub_actor spawn_agent_hub(caf::actor_system& sys, event_sink_actor sink) {
  return sys.spawn(agent_hub, std::move(sink));
}

agent_actor spawn_remote_agent(caf::actor_system& sys, agent_spec spec,
                               agent_hub_actor hub, int32_t timeout_ms) {
  spec.backend = "remote";
  return sys.spawn(remote_agent, std::move(spec), std::move(hub), timeout_ms);
}

} // namespace orch
