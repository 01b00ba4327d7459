"""deploy/kubernetes/networkpolicy.yaml: only Prometheus reaches the port; the
pods reach DNS, PostgreSQL and HTTPS, nothing else."""

from __future__ import annotations

from tests.unit.test_deploy_static import kubernetes_objects


def test_network_policy_admits_prometheus_only_and_lets_out_dns_postgres_and_https() -> None:
    objects = kubernetes_objects()
    policy, deployment = objects["NetworkPolicy"], objects["Deployment"]
    spec = policy["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]

    [ingress] = spec["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]  # the container's port
    [source] = ingress["from"]
    assert source["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    # In one namespace: an empty selector would admit a pod of any namespace that
    # labels itself prometheus.
    namespace = source["namespaceSelector"]["matchLabels"]
    assert (
        list(namespace) == ["kubernetes.io/metadata.name"]
        and namespace["kubernetes.io/metadata.name"]
    )

    allowed = {
        (port["port"], port["protocol"]) for rule in spec["egress"] for port in rule["ports"]
    }
    assert allowed == {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (443, "TCP")}
    [dns] = [r for r in spec["egress"] if any(p["port"] == 53 for p in r["ports"])]
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
