// Checks the chart with real tools (run by scripts/helm-check.sh):
//
//   node check.mjs HELM CHART_DIR TESTS_DIR
//
// 1. `helm lint --strict` with the default values and every value file.
// 2. `helm template` of the defaults and of each value file; every rendered
//    object is validated against the Kubernetes schemas (kubernetes-models,
//    offline; CRDs such as ServiceMonitor have no model and are checked by
//    hand), then assertions on what matters: security contexts, probes and
//    their ports, no secret value in plain text, labels and selectors that
//    match, the parts each value file turns on or off.
// 3. Every file in bad/ is refused by the schema with the message its first
//    line expects.
//
// Prints one line per check; exits 1 when any failed.

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [helm, chart, dir] = process.argv.slice(2);
let failed = 0;
let passed = 0;

function check(cond, what) {
  if (cond) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL: ${what}`);
  }
}

function helmRun(args) {
  try {
    const out = execFileSync(helm, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { ok: true, out, err: "" };
  } catch (e) {
    return { ok: false, out: e.stdout ?? "", err: (e.stderr ?? "") + (e.message ?? "") };
  }
}

const valueSets = {
  default: [],
  nodes: ["-f", `${dir}/values-nodes.yaml`],
  monitor: ["-f", `${dir}/values-monitor.yaml`],
  "hpa-off": ["-f", `${dir}/values-hpa-off.yaml`],
  secrets: ["-f", `${dir}/values-secrets.yaml`],
};

// -- 1. lint ------------------------------------------------------------------

for (const [name, args] of Object.entries(valueSets)) {
  const r = helmRun(["lint", "--strict", chart, ...args]);
  check(r.ok, `helm lint --strict (${name}): ${r.err}${r.out}`);
}

// -- 2. template, validate, assert ---------------------------------------------

async function validate(o, set) {
  if (o.apiVersion === "monitoring.coreos.com/v1") return; // a CRD: by hand
  let mod;
  try {
    mod = await import(`kubernetes-models/${o.apiVersion}`);
  } catch (e) {
    check(false, `${set}: no model for ${o.apiVersion} ${o.kind}`);
    return;
  }
  try {
    new mod[o.kind](o).validate();
    passed++;
  } catch (e) {
    check(false, `${set}: ${o.kind}/${o.metadata?.name} is invalid: ${e.message}`);
  }
}

const secretish = /(PASSWORD|TOKEN|SECRET|API_KEY|CREDS?$)/;

function podChecks(set, kind, obj, pod) {
  const where = `${set}: ${kind} ${obj.metadata.name}`;
  check(pod.automountServiceAccountToken === false, `${where}: no service-account token`);
  const psc = pod.securityContext ?? {};
  check(psc.runAsNonRoot === true, `${where}: pod runAsNonRoot`);
  check(psc.seccompProfile?.type === "RuntimeDefault", `${where}: pod seccomp RuntimeDefault`);
  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    check(sc.readOnlyRootFilesystem === true, `${where}/${c.name}: readOnlyRootFilesystem`);
    check(sc.allowPrivilegeEscalation === false, `${where}/${c.name}: allowPrivilegeEscalation false`);
    check((sc.capabilities?.drop ?? []).includes("ALL"), `${where}/${c.name}: drops ALL capabilities`);
    check(sc.seccompProfile?.type === "RuntimeDefault", `${where}/${c.name}: seccomp RuntimeDefault`);
    const tmp = (c.volumeMounts ?? []).find((m) => m.mountPath === "/tmp");
    check(tmp !== undefined, `${where}/${c.name}: /tmp is mounted`);
    if (tmp) {
      const vol = (pod.volumes ?? []).find((v) => v.name === tmp.name);
      check(vol?.emptyDir !== undefined, `${where}/${c.name}: /tmp is an emptyDir`);
    }
    for (const e of c.env ?? []) {
      if (secretish.test(e.name) && !e.name.endsWith("_FILE"))
        check(e.value === undefined || e.value.startsWith("/etc/orchestrator/"),
              `${where}/${c.name}: ${e.name} is not a plain value`);
      if (e.name === "REDIS_URL")
        check(!/:[^$/@]+@/.test(e.value ?? ""), `${where}: REDIS_URL carries no literal password`);
    }
  }
}

function selects(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

for (const [set, args] of Object.entries(valueSets)) {
  const r = helmRun(["template", "rel", chart, "--namespace", "fleet", ...args]);
  check(r.ok, `helm template (${set}): ${r.err}`);
  if (!r.ok) continue;
  const objs = parseAllDocuments(r.out).map((d) => d.toJS()).filter(Boolean);
  for (const o of objs) await validate(o, set);
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const one = (k) => byKind(k)[0];
  check(!objs.some((o) => o.kind === "Secret"), `${set}: the chart renders no Secret`);
  for (const o of objs) {
    const l = o.metadata?.labels ?? {};
    check(l["app.kubernetes.io/name"] === "orchestrator" && l["app.kubernetes.io/instance"] === "rel",
          `${set}: ${o.kind}/${o.metadata?.name} has the chart's labels`);
  }
  // The service.
  const dep = one("Deployment");
  const svc = byKind("Service").find((s) => s.spec.clusterIP !== "None");
  const cm = one("ConfigMap");
  check(dep && svc && cm, `${set}: Deployment, Service and ConfigMap`);
  if (!dep || !svc || !cm) continue;
  const pod = dep.spec.template.spec;
  const tl = dep.spec.template.metadata.labels;
  check(selects(dep.spec.selector.matchLabels, tl), `${set}: Deployment selector matches its pods`);
  check(selects(svc.spec.selector, tl), `${set}: Service selects the Deployment's pods`);
  podChecks(set, "Deployment", dep, pod);
  const c = pod.containers[0];
  const portOf = (name) => c.ports.find((p) => p.name === name)?.containerPort;
  check(c.livenessProbe?.httpGet?.path === "/healthz" && c.livenessProbe.httpGet.port === "http",
        `${set}: liveness probe GET /healthz on http`);
  check(c.readinessProbe?.httpGet?.path === "/readyz" && c.readinessProbe.httpGet.port === "http",
        `${set}: readiness probe GET /readyz on http`);
  check(portOf("http") === Number(cm.data.HTTP_PORT), `${set}: the http port is HTTP_PORT`);
  check(portOf("grpc") === Number(cm.data.GRPC_PORT), `${set}: the grpc port is GRPC_PORT`);
  const sp = Object.fromEntries(svc.spec.ports.map((p) => [p.name, p]));
  check(sp.grpc?.port === 50055 && sp.grpc.targetPort === "grpc", `${set}: Service gRPC 50055`);
  check(sp.http?.port === 8080 && sp.http.targetPort === "http", `${set}: Service HTTP 8080`);
  check(pod.terminationGracePeriodSeconds > Number(cm.data.DRAIN_TIMEOUT),
        `${set}: grace period ${pod.terminationGracePeriodSeconds} s is longer than DRAIN_TIMEOUT ${cm.data.DRAIN_TIMEOUT} s`);
  const anti = pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0];
  check(anti && selects(anti.podAffinityTerm.labelSelector.matchLabels, tl),
        `${set}: pod anti-affinity spreads the replicas`);
  check(c.envFrom?.some((e) => e.configMapRef?.name === cm.metadata.name), `${set}: env from the ConfigMap`);
  for (const k of Object.keys(cm.data))
    check(!secretish.test(k), `${set}: ConfigMap holds no secret (${k})`);
  check(!/[a-z]+:\/\/[^/\s"]*:[^/\s"@]*@/.test(JSON.stringify(cm.data)), `${set}: no URL with a password in the ConfigMap`);
  // What the value sets turn on and off.
  const hpa = one("HorizontalPodAutoscaler");
  const pdb = one("PodDisruptionBudget");
  if (set === "hpa-off") {
    check(!hpa && dep.spec.replicas === 3, `${set}: no HPA, 3 replicas`);
    check(!pdb && !one("NetworkPolicy") && !one("Job"), `${set}: no PDB, NetworkPolicy or Job`);
  } else {
    check(hpa?.spec.scaleTargetRef.name === dep.metadata.name && dep.spec.replicas === undefined,
          `${set}: the HPA scales the Deployment`);
    check(pdb && selects(pdb.spec.selector.matchLabels, tl), `${set}: the PDB covers the pods`);
    const np = byKind("NetworkPolicy").find((n) => selects(n.spec.podSelector.matchLabels, tl));
    check(np !== undefined, `${set}: a NetworkPolicy for the service`);
    if (np) {
      const inPorts = np.spec.ingress.flatMap((i) => i.ports.map((p) => p.port));
      check(inPorts.includes(50055) && inPorts.includes(8080), `${set}: ingress to gRPC and HTTP`);
      const outPorts = np.spec.egress.flatMap((e) => (e.ports ?? []).map((p) => p.port));
      for (const p of [53, 4222, 6379])
        check(outPorts.includes(p), `${set}: egress to port ${p}`);
    }
    const job = one("Job");
    check(job?.metadata.annotations?.["helm.sh/hook"]?.includes("pre-install")
            && job.spec.template.spec.containers[0].args[0] === "provision",
          `${set}: a pre-install hook Job provisions the streams`);
    if (job) podChecks(set, "Job", job, job.spec.template.spec);
  }
  const mon = one("ServiceMonitor");
  check((set === "monitor") === (mon !== undefined), `${set}: ServiceMonitor only when enabled`);
  if (mon) {
    check(selects(mon.spec.selector.matchLabels, svc.metadata.labels), `${set}: the ServiceMonitor selects the Service`);
    check(mon.spec.endpoints[0].port === "http" && mon.spec.endpoints[0].path === "/metrics",
          `${set}: the ServiceMonitor scrapes /metrics on http`);
  }
  const sts = one("StatefulSet");
  const nodesOn = set === "nodes" || set === "secrets";
  check(nodesOn === (sts !== undefined), `${set}: node StatefulSet only with nodes`);
  if (sts) {
    const headless = byKind("Service").find((s) => s.spec.clusterIP === "None");
    check(headless && sts.spec.serviceName === headless.metadata.name, `${set}: the StatefulSet's headless Service`);
    check(headless && selects(headless.spec.selector, sts.spec.template.metadata.labels),
          `${set}: the headless Service selects the nodes`);
    check(!selects(svc.spec.selector, sts.spec.template.metadata.labels), `${set}: the Service does not select nodes`);
    podChecks(set, "StatefulSet", sts, sts.spec.template.spec);
    const nodes = cm.data.NODES.split(",");
    check(nodes.length === sts.spec.replicas
            && nodes.every((n, i) => n === `${sts.metadata.name}-${i}.${headless.metadata.name}.fleet.svc:4100`),
          `${set}: NODES names every node pod: ${cm.data.NODES}`);
    const auth = (cs) => cs.env.filter((e) => e.name.startsWith("NODE_"));
    for (const cs of [c, sts.spec.template.spec.containers[0]]) {
      const a = auth(cs);
      check(a.some((e) => e.name === "NODE_SECRET" && e.valueFrom?.secretKeyRef)
              || a.some((e) => e.name === "NODE_TLS_CERT"),
            `${set}: ${cs.name} authenticates nodes (NODE_SECRET from a Secret or TLS)`);
    }
  }
  if (set === "secrets") {
    const env = Object.fromEntries(c.env.map((e) => [e.name, e]));
    for (const [name, secret] of [["NATS_PASSWORD", "nats-user"], ["NATS_TOKEN", "nats-token"],
                                  ["REDIS_PASSWORD", "redis-auth"], ["VLLM_API_KEY", "llm-api-key"]])
      check(env[name]?.valueFrom?.secretKeyRef?.name === secret, `${set}: ${name} from Secret ${secret}`);
    check(env.REDIS_URL?.value === "redis://:$(REDIS_PASSWORD)@redis.data:6379/2",
          `${set}: REDIS_URL takes the password from the environment`);
    check(env.NATS_CREDS?.value?.startsWith("/etc/orchestrator/nats-creds/"), `${set}: NATS_CREDS is a mounted file`);
    check(pod.volumes.some((v) => v.secret?.secretName === "nats-creds"), `${set}: the creds Secret is mounted`);
    const np = byKind("NetworkPolicy").find((n) => selects(n.spec.podSelector.matchLabels, tl));
    check(np?.spec.egress.some((e) => (e.ports ?? []).some((p) => p.port === 443)), `${set}: egress to the LLM port`);
  }
}

// -- 3. bad values are refused --------------------------------------------------

for (const f of readdirSync(`${dir}/bad`).filter((f) => f.endsWith(".yaml")).sort()) {
  const path = `${dir}/bad/${f}`;
  const expect = readFileSync(path, "utf8").split("\n")[0].replace(/^# expect:\s*/, "");
  const r = helmRun(["template", "rel", chart, "-f", path]);
  check(!r.ok && r.err.includes(expect), `bad/${f} is refused with "${expect}": ${r.ok ? "accepted" : r.err}`);
}

console.log(`${failed === 0 ? "OK" : "FAILED"}: ${passed} checks passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
