#pragma once

// Every typed actor interface of the orchestrator, and the settings its actors
// take at spawn time. Domain actors and bridges include this header; nothing
// here pulls in a C library.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/messages.hpp"

namespace orch {

// -- interfaces ---------------------------------------------------------------

/// Receives progress updates of a deliberation (CLI, gRPC stream, NATS).
using progress_listener_actor
  = caf::typed_actor<caf::reacts_to<deliberation_update>>;

/// AGENT: one council member. Every backend (scripted, vllm, remote) speaks
/// this interface. The task and the proposals come as `shared` values: the
/// messages of one deliberation point at one copy.
using agent_actor = caf::typed_actor<
  // Drafts a proposal for the task.
  caf::replies_to<atom::generate, task_ref>::with<proposal>,
  // Reviews a peer's proposal in the given round.
  caf::replies_to<atom::critique, task_ref, proposal_ref,
                  int32_t>::with<critique>,
  // Revises the agent's own proposal with the feedback it received.
  caf::replies_to<atom::revise, task_ref, proposal_ref,
                  std::vector<critique>>::with<proposal>,
  // Describes the agent.
  caf::replies_to<atom::info>::with<agent_spec>>;

/// SCORER: runs the check suite (policy, lint, dry-run) on one proposal.
using scorer_actor = caf::typed_actor<
  caf::replies_to<atom::score, proposal, task_spec>::with<check_suite>,
  // Scores the proposals of one deliberation (one request instead of one
  // per proposal); answers their suites in the same order.
  caf::replies_to<atom::score, std::vector<proposal_ref>,
                  task_ref>::with<std::vector<check_suite>>>;

/// Runs child processes with a time limit, off the scheduler threads.
using process_runner_actor = caf::typed_actor<
  caf::replies_to<atom::run, command_spec>::with<command_result>>;

/// Sends chat-completion requests to OpenAI-compatible endpoints, with
/// retries, a concurrency cap and a circuit breaker per endpoint. Answers
/// with the 2xx reply or an error (`timeout`, `agent_failed`).
using llm_client_actor = caf::typed_actor<
  caf::replies_to<atom::complete, llm_request>::with<llm_reply>,
  // Endpoints failing right now (circuit open), each with why.
  caf::replies_to<atom::status>::with<std::vector<std::string>>>;

/// ARCHITECT: picks the winner among the top k ranked results.
using architect_actor = caf::typed_actor<
  caf::replies_to<atom::select, std::vector<deliberation_result>,
                  constraints>::with<selection>>;

/// COUNCIL: the agents of one role and their deliberations.
using council_actor = caf::typed_actor<
  // Deliberates on a task the ORCHESTRATOR checked; the task is shared by
  // every request of the deliberation and by the ORCHESTRATOR (for naming
  // it in a failure).
  caf::replies_to<atom::deliberate, task_ref,
                  progress_listener_actor>::with<deliberation_outcome>,
  caf::replies_to<atom::info>::with<council_info>,
  // Adds an already spawned agent.
  caf::replies_to<atom::add, agent_spec, agent_actor>::with<council_info>,
  // Removes the agent with the given id.
  caf::replies_to<atom::remove, std::string>::with<council_info>,
  // Watchdog tick: expires deliberations past their limit.
  caf::reacts_to<atom::tick>,
  // Deliberation number n of this council ended; its worker takes the next
  // one when `reusable` (no reply of the ended one is still on its way).
  caf::reacts_to<atom::done, uint64_t, bool>>;

/// Everything a COUNCIL hands to a deliberation worker for one deliberation
/// (defined in actors/deliberation.hpp; never leaves the process).
struct deliberation_job;
using deliberation_job_ptr = std::shared_ptr<deliberation_job>;

/// A deliberation worker of a COUNCIL: runs one deliberation at a time and
/// is reused for the next (spawning and ending an actor per deliberation
/// costs a wake-up of CAF's clock thread each).
using deliberation_actor = caf::typed_actor<
  caf::replies_to<atom::run, deliberation_job_ptr>::with<deliberation_outcome>,
  // Deliberation number n is past its limit (ignored when it is not n's).
  caf::reacts_to<atom::expire, uint64_t>>;

/// ORCHESTRATOR: council registry, deliberate, orchestrate, stats, results.
using orchestrator_actor = caf::typed_actor<
  // Deliberation only: ranked results, winner = rank 1.
  caf::replies_to<atom::deliberate, task_spec,
                  progress_listener_actor>::with<deliberation_outcome>,
  // Deliberation followed by the architect's selection.
  caf::replies_to<atom::orchestrate, task_spec,
                  progress_listener_actor>::with<deliberation_outcome>,
  caf::replies_to<atom::create, council_config>::with<council_info>,
  caf::replies_to<atom::list>::with<std::vector<council_info>>,
  // Deletes the council of a role.
  caf::replies_to<atom::remove, std::string>::with<council_info>,
  // Registers an agent with the council of its role.
  caf::replies_to<atom::add, agent_spec>::with<council_info>,
  // Unregisters agent (role, agent_id).
  caf::replies_to<atom::remove, std::string, std::string>::with<council_info>,
  caf::replies_to<atom::stats>::with<orchestrator_stats>,
  // Counters for /metrics: "duration_le <ms>" (cumulative histogram of
  // deliberation durations, "+Inf" last), "duration_sum_ms",
  // "duration_count", "agent_calls <backend> <ok|failed>".
  caf::replies_to<atom::stats, atom::get>::with<std::map<std::string, int64_t>>,
  // Looks up the stored outcome of a task.
  caf::replies_to<atom::result, std::string>::with<deliberation_outcome>,
  // The stored outcomes of a story (by story_id), oldest first.
  caf::replies_to<atom::list, std::string>::with<
    std::vector<deliberation_outcome>>,
  // Drops stored results older than the clean-up age.
  caf::reacts_to<atom::expire>,
  // For merging look-ups over engine lanes (orchestrator_group): the stored
  // outcome of a task (none or one) with the time it was stored ...
  caf::replies_to<atom::result, std::string, atom::get>::with<stored_outcomes>,
  // ... the stored outcomes of a story with their times, oldest first ...
  caf::replies_to<atom::list, std::string, atom::get>::with<stored_outcomes>,
  // ... and the durations (ms) of the most recent deliberations.
  caf::replies_to<atom::stats, atom::list>::with<std::vector<int64_t>>>;

/// TASK QUEUE: tasks with dependencies, priorities and leases. One contract
/// for every backend (memory; Redis).
using task_queue_actor = caf::typed_actor<
  // Enqueues tasks (idempotent by task id); answers how many were new.
  caf::replies_to<atom::add, std::vector<task_spec>>::with<int32_t>,
  // Leases up to n READY tasks (highest priority first, FIFO within a
  // priority) to worker w for ttl ms.
  caf::replies_to<atom::lease, std::string, int32_t,
                  int32_t>::with<std::vector<queued_task>>,
  // Extends the lease of (task, worker) by ttl ms.
  caf::replies_to<atom::extend, std::string, std::string,
                  int32_t>::with<queued_task>,
  // Completes (task, worker) with a result (JSON).
  caf::replies_to<atom::complete, std::string, std::string,
                  std::string>::with<queued_task>,
  // Fails (task, worker) with an error: retried with backoff up to
  // max_attempts, then FAILED with every dependent BLOCKED.
  caf::replies_to<atom::fail, std::string, std::string,
                  std::string>::with<queued_task>,
  caf::replies_to<atom::cancel, std::string>::with<queued_task>,
  caf::replies_to<atom::status, std::string>::with<queued_task>,
  // Tasks in a state ("" for all), in enqueue order.
  caf::replies_to<atom::list, std::string>::with<std::vector<queued_task>>,
  // Tasks of one plan (by plan_id) in a state ("" for all), in enqueue
  // order: found by an index of the plan, not by walking the queue.
  caf::replies_to<atom::list, std::string,
                  std::string>::with<std::vector<queued_task>>,
  caf::replies_to<atom::counts>::with<std::map<std::string, int64_t>>,
  // Counts of the tasks of one plan (by plan_id).
  caf::replies_to<atom::counts, std::string>::with<std::map<std::string, int64_t>>,
  // Whether a plan (by plan_id) has tasks and none of them open (QUEUED,
  // READY, IN_PROGRESS): from a count kept by every transition, so a
  // caller may ask after each task it finishes (counts may walk the plan).
  caf::replies_to<atom::finished, std::string>::with<bool>,
  // Completes (task, worker) with a result and records the events it causes
  // in the outbox, atomically.
  caf::replies_to<atom::complete, std::string, std::string, std::string,
                  std::vector<outbound_event>>::with<queued_task>,
  // Fails (task, worker) and records the events in the outbox, atomically;
  // events with `when == "final"` only when the task is FAILED for good.
  caf::replies_to<atom::fail, std::string, std::string, std::string,
                  std::vector<outbound_event>>::with<queued_task>,
  // Completes many tasks in one message, in order, each as `complete` with
  // its events would; answers one error per completion (none: completed).
  caf::replies_to<atom::complete, std::vector<task_completion>>::with<
    std::vector<caf::error>>,
  // Returns (task, worker) to READY without counting an attempt (drain).
  caf::replies_to<atom::release, std::string, std::string>::with<queued_task>,
  // Events recorded with completions and not yet delivered.
  caf::replies_to<atom::outbox>::with<std::vector<outbound_event>>,
  // The same, of one plan (by plan_id): found by an index, not by walking
  // the outbox.
  caf::replies_to<atom::outbox, std::string>::with<std::vector<outbound_event>>,
  // Drops delivered events by idempotency key; answers how many were held.
  caf::replies_to<atom::outbox, std::vector<std::string>>::with<int32_t>,
  // Returns expired leases to READY.
  caf::reacts_to<atom::tick>>;

/// EVENT SINK: receives the events the DISPATCHER and the EVENT ROUTER
/// cause. `serve` publishes them to NATS JetStream, `run` prints them.
using event_sink_actor = caf::typed_actor<
  // Delivers events; answers once every one is durable (acknowledged by
  // JetStream; printed). Outbox events are then dropped from the outbox.
  caf::replies_to<atom::publish, std::vector<outbound_event>>::with<int32_t>,
  // Delivers one event at best effort, without an answer (progress).
  caf::reacts_to<atom::progress, outbound_event>>;

/// DISPATCHER: leases READY tasks up to a cap in flight, runs each through
/// the ORCHESTRATOR, extends leases while they run, completes or fails them
/// in the TASK QUEUE (with their events in the outbox) and tells the EVENT
/// SINK every step.
using dispatcher_actor = caf::typed_actor<
  // Tasks were enqueued or may have become ready: lease what the cap allows.
  caf::reacts_to<atom::wake>,
  // Progress of a running deliberation (the DISPATCHER is the listener).
  caf::reacts_to<deliberation_update>,
  // Heartbeat: extends the leases of the running tasks.
  caf::reacts_to<atom::extend>,
  // Stops leasing, waits at most the given ms for the tasks in flight, then
  // releases the leases of the rest; answers how many were released.
  caf::replies_to<atom::drain, int32_t>::with<int32_t>,
  // Tasks in flight right now.
  caf::replies_to<atom::status>::with<int32_t>>;

/// WORKER REGISTRY: the external workers of the HTTP pull API, when each
/// was last seen and what it holds.
using worker_registry_actor = caf::typed_actor<
  // Worker w was seen holding task t ("" for none); `outcome` is
  // "completed", "failed" or "" (just asked).
  caf::reacts_to<atom::add, std::string, std::string, std::string>,
  // Every worker, by id.
  caf::replies_to<atom::list>::with<std::vector<worker_info>>>;

/// Spawns the WORKER REGISTRY.
worker_registry_actor spawn_worker_registry(caf::actor_system& sys);

/// EVENT ROUTER: decodes and validates a consumed message, acts on it
/// (plan -> tasks in the queue; story transition; agent response) and
/// answers what the bridge does with the message. It answers only after the
/// effect is durable.
using event_router_actor
  = caf::typed_actor<caf::replies_to<inbound_event>::with<verdict>>;

/// AGENT HUB: the `remote` agents' link to external workers. Publishes
/// agent.cmd.{role}.{op} and matches agent.response.* by correlation id.
using agent_hub_actor = caf::typed_actor<
  // Publishes the command; answers with the worker's response, or `timeout`.
  caf::replies_to<atom::run, agent_command>::with<agent_response>,
  // A response consumed from agent.response.completed / .failed.
  caf::reacts_to<agent_response>,
  // The time limit of a call (by correlation id) passed.
  caf::reacts_to<atom::expire, std::string>>;

/// PLANNER: plan -> validated atomic tasks in dependency order.
using planner_actor = caf::typed_actor<
  caf::replies_to<atom::run, plan_input>::with<std::vector<task_spec>>>;

/// NODE: an `orchestrator node` process that hosts agents and scorers for
/// the orchestrators connected to it over CAF's middleman. An orchestrator
/// proves NODE_SECRET (and the node proves it back) before any placement;
/// the agents of an orchestrator whose connection drops are stopped.
using node_actor = caf::typed_actor<
  // Handshake, step 1: the orchestrator's nonce; answers the node's nonce
  // and the node's proof over both.
  caf::replies_to<atom::join, std::string>::with<std::string, std::string>,
  // Handshake, step 2: the orchestrator's proof over both nonces; answers
  // what the node hosts.
  caf::replies_to<atom::ack, std::string>::with<node_info>,
  // Spawns an agent for the spec (refused before the handshake).
  caf::replies_to<atom::create, agent_spec>::with<agent_actor>,
  // Spawns a scorer (refused before the handshake).
  caf::replies_to<atom::create, atom::score>::with<scorer_actor>,
  // What the node hosts.
  caf::replies_to<atom::status>::with<node_info>>;

/// PLACEMENT: the orchestrator's view of its nodes. Connects to every
/// configured node, proves the secret, monitors it and reconnects when it
/// goes down; places agents and scorers on the least loaded node that is up
/// (a council's agents spread over nodes), in this process when none is.
using placement_actor = caf::typed_actor<
  // Places an agent anywhere but on `avoid` (the node it just lost, or "");
  // answers its handle and where it runs ("host:port#epoch" or "local").
  caf::replies_to<atom::place, agent_spec, std::string>::with<agent_actor,
                                                              std::string>,
  // Places a scorer the same way.
  caf::replies_to<atom::place, atom::score, std::string>::with<scorer_actor,
                                                               std::string>,
  // A placed agent of a role (a scorer: "") left `where`.
  caf::reacts_to<atom::remove, std::string, std::string>,
  // A node announced itself (published with NODE_LISTEN).
  caf::reacts_to<atom::join, node_actor>,
  // Reconnect timer of the node at `name`.
  caf::reacts_to<atom::tick, std::string>,
  // Every node and its state, load and epoch.
  caf::replies_to<atom::list>::with<std::vector<node_info>>>;

// -- spawn-time settings ------------------------------------------------------

/// Engine lane `index` of `count` (actors/lanes.hpp): a deliberation's
/// actors pinned to one scheduler thread. A count of 1: no lanes, nothing
/// pinned.
struct lane {
  uint32_t index = 0;
  uint32_t count = 1;
};

/// Engine lanes a process can have (what an actor's flags can hold).
constexpr uint32_t max_lanes = 63;

/// Creates the agent for a spec; chosen by the runtime per backend.
using agent_factory = std::function<caf::expected<agent_actor>(
  caf::actor_system&, const agent_spec&)>;

/// How a COUNCIL runs its deliberations.
struct council_settings {
  std::string role;
  std::string agent_type = "scripted";
  int32_t rounds = 1;
  /// Minimum number of surviving proposals.
  int32_t quorum = 1;
  /// Limit of a whole deliberation.
  std::chrono::milliseconds deliberation_timeout{300'000};
  /// The scorers the council spreads its proposals over.
  std::vector<scorer_actor> scorers;
  /// The engine lane the council and its deliberation workers run in (the
  /// council of one lane's ORCHESTRATOR); default: not pinned.
  lane home;
};

/// How the ORCHESTRATOR is wired.
struct orchestrator_settings {
  /// Default backend of new councils ("scripted" or "vllm").
  std::string agent_type = "scripted";
  int32_t quorum = 1;
  std::chrono::milliseconds deliberation_timeout{300'000};
  /// Age after which a stored result is dropped.
  std::chrono::milliseconds cleanup_after{3'600'000};
  /// Upper bound on stored results; the oldest go first.
  size_t max_stored_results = 100'000;
  /// Whether the orchestrator ticks its own clean-up timer.
  bool cleanup_timer = true;
  std::vector<scorer_actor> scorers;
  architect_actor architect;
  agent_factory make_agent;
  /// The engine lane this ORCHESTRATOR and its councils run in, when it is
  /// the one of several lanes (spawn_orchestrator_group); `make_agent` then
  /// makes agents in this lane, and the scorers are the lane's.
  lane home;
};

/// How `vllm` agents and the `llm` architect reach their model.
struct vllm_settings {
  /// Base URL of an OpenAI-compatible server (http://host:8000, .../v1, or
  /// the full .../v1/chat/completions).
  std::string url = "http://localhost:8000";
  std::string model = "Qwen/Qwen3-0.6B";
  double temperature = 0.7;
  int32_t max_tokens = 2048;
  /// Time limit of one HTTP request.
  int32_t timeout_ms = 60'000;
  std::string api_key;
  /// Times a call is asked again after an empty or malformed reply.
  int32_t max_reasks = 2;
};

/// The chat-completions URL for a configured base URL.
std::string chat_completions_url(const std::string& base);

// -- spawn functions ----------------------------------------------------------

/// Spawns an agent with the deterministic `scripted` backend; pinned to
/// engine lane `in` when it is one of several.
agent_actor spawn_scripted_agent(caf::actor_system& sys, agent_spec spec,
                                 lane in = {});

/// Spawns a COUNCIL over the given agents.
council_actor
spawn_council(caf::actor_system& sys, council_settings settings,
              std::vector<std::pair<agent_spec, agent_actor>> agents);

/// Spawns an agent with the `vllm` backend (any OpenAI-compatible server);
/// pinned to engine lane `in` when it is one of several.
agent_actor spawn_vllm_agent(caf::actor_system& sys, agent_spec spec,
                             vllm_settings settings, llm_client_actor client,
                             lane in = {});

/// Spawns the rule-based ARCHITECT.
architect_actor spawn_architect(caf::actor_system& sys);

/// Spawns the `llm` ARCHITECT: asks the model to choose among the top k and
/// falls back to the rule-based choice (recording why) when its answer does
/// not parse.
architect_actor spawn_llm_architect(caf::actor_system& sys,
                                    vllm_settings settings,
                                    llm_client_actor client);

/// How a TASK QUEUE behaves.
struct task_queue_settings {
  int32_t max_attempts = 3;
  /// Backoff before retry n is base * 2^(n-1), at most max.
  int32_t backoff_base_ms = 1000;
  int32_t backoff_max_ms = 60'000;
  /// How often expired leases are looked for (0: only on lease calls).
  int32_t sweep_interval_ms = 1000;
  /// Milliseconds since the epoch; replaceable for tests.
  std::function<int64_t()> clock;
  /// Finished tasks (COMPLETED, FAILED, BLOCKED, CANCELLED) leave memory
  /// after this long (0: kept) ...
  int64_t retain_ms = 0;
  /// ... or when more than this many are kept (0: no limit), oldest first.
  /// Their ids and final states stay as tombstones, so enqueueing them again
  /// adds nothing and dependencies on them resolve ...
  size_t retain_max = 0;
  /// ... the most recent this many (13 bytes each).
  size_t tombstones_max = 1'000'000;
};

/// Spawns the in-memory TASK QUEUE.
task_queue_actor spawn_memory_queue(caf::actor_system& sys,
                                    task_queue_settings settings = {});

/// How the DISPATCHER runs tasks.
struct dispatcher_settings {
  /// Lease owner; unique per process.
  std::string worker = "dispatcher";
  int32_t max_in_flight = 8;
  /// Lease of a running task, extended every third of it.
  int32_t lease_ms = 30'000;
  /// How often an idle DISPATCHER asks the queue again: tasks enqueued by
  /// other replicas, expired leases, retry backoffs.
  int32_t idle_poll_ms = 500;
  /// Progress events: "step" (every agent step), "phase" (first update of
  /// each phase) or "off".
  std::string progress = "phase";
  /// What a completed task keeps as its result in the queue: the whole
  /// outcome (`run` reports it) or a summary (winner, rationale, score,
  /// execution; `serve`, whose full outcomes are in the events and the
  /// ORCHESTRATOR's result store).
  bool full_results = true;
};

/// Spawns the DISPATCHER and lets it lease at once.
dispatcher_actor spawn_dispatcher(caf::actor_system& sys,
                                  dispatcher_settings settings,
                                  task_queue_actor queue,
                                  orchestrator_actor orchestrator,
                                  event_sink_actor sink);

/// How the EVENT ROUTER is wired.
struct event_router_settings {
  /// Largest accepted message in bytes.
  size_t max_payload = 1 << 20;
  /// Roles (upper case) that have a council.
  std::vector<std::string> roles;
  task_queue_actor queue;
  event_sink_actor sink;
  dispatcher_actor dispatcher;
  /// Optional: where agent responses go.
  agent_hub_actor hub;
};

/// Spawns the EVENT ROUTER.
event_router_actor spawn_event_router(caf::actor_system& sys,
                                      event_router_settings settings);

/// Spawns the AGENT HUB publishing commands through `sink`.
agent_hub_actor spawn_agent_hub(caf::actor_system& sys, event_sink_actor sink);

/// Spawns an agent with the `remote` backend: every call is a command to an
/// external worker over NATS, with `timeout_ms` per call.
agent_actor spawn_remote_agent(caf::actor_system& sys, agent_spec spec,
                               agent_hub_actor hub, int32_t timeout_ms);

/// Spawns the ORCHESTRATOR.
orchestrator_actor spawn_orchestrator(caf::actor_system& sys,
                                      orchestrator_settings settings);

/// The ORCHESTRATOR of several engine lanes, one orchestrator per lane
/// (spawned with `home` set; actors/orchestrator_group.cpp): deliberate and
/// orchestrate requests go, without a hop, to the sender's lane when the
/// sender is pinned to one, else to the lanes in turn; everything else goes
/// to a control actor that applies changes to every lane and merges
/// look-ups and stats.
orchestrator_actor
spawn_orchestrator_group(caf::actor_system& sys,
                         std::vector<orchestrator_actor> lanes);

} // namespace orch

// -- type IDs of actor handles that cross nodes -------------------------------

CAF_BEGIN_TYPE_ID_BLOCK(orch_actors, caf::id_block::orch::end)

  CAF_ADD_TYPE_ID(orch_actors, (orch::agent_actor))
  CAF_ADD_TYPE_ID(orch_actors, (orch::scorer_actor))
  CAF_ADD_TYPE_ID(orch_actors, (orch::node_actor))

CAF_END_TYPE_ID_BLOCK(orch_actors)

// A deliberation job is handed from a COUNCIL to its worker in the same
// process only.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(orch::deliberation_job_ptr)
