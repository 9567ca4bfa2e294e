// WORKER REGISTRY: who pulls work over HTTP, when each worker was last
// seen, what it holds and how much it finished.

#include <map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/actors.hpp"

namespace orch {

namespace {

struct worker_registry_state {
  static inline const char* name = "worker-registry";
  std::map<std::string, worker_info> workers;
};

worker_registry_actor::behavior_type worker_registry(
  worker_registry_actor::stateful_pointer<worker_registry_state> self) {
  return {
    [=](atom::add, const std::string& worker, const std::string& task,
        const std::string& outcome) {
      auto& w = self->state.workers[worker];
      w.worker_id = worker;
      w.last_seen_ms = now_ms();
      w.current_task = task;
      if (outcome == "completed")
        ++w.completed;
      else if (outcome == "failed")
        ++w.failed;
    },
    [=](atom::list) -> caf::result<std::vector<worker_info>> {
      std::vector<worker_info> out;
      for (auto& [id, w] : self->state.workers)
        out.push_back(w);
      return out;
    },
  };
}

} // namespace

worker_registry_actor spawn_worker_registry(caf::actor_system& sys) {
  return sys.spawn(worker_registry);
}

} // namespace orch
