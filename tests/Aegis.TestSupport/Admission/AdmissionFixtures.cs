using System.Text.Json.Nodes;

namespace Aegis.TestSupport.Admission;

/// <summary>Pods and AdmissionReview v1 requests as the API server sends them, for webhook tests and the load test.</summary>
public static class AdmissionFixtures
{
    /// <summary>A Deployment-made agent pod: two containers with env, ports, probes and volumes, an init container, a service account.</summary>
    public static JsonObject RealisticPod(string ns = "agents") => JsonNode.Parse($$"""
        {
          "apiVersion": "v1",
          "kind": "Pod",
          "metadata": {
            "generateName": "payments-bot-7d9f8b6c5-",
            "namespace": "{{ns}}",
            "labels": { "app": "payments-bot", "pod-template-hash": "7d9f8b6c5" },
            "annotations": { "prometheus.io/scrape": "true" },
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "payments-bot-7d9f8b6c5", "uid": "5c1a8b0e-7d2f-4e8a-9a43-1f0f3c2b9d11", "controller": true, "blockOwnerDeletion": true }]
          },
          "spec": {
            "serviceAccountName": "payments-bot",
            "initContainers": [
              { "name": "migrate", "image": "registry.example.com/payments-bot:1.4.2", "command": ["/app/migrate"], "resources": {} }
            ],
            "containers": [
              {
                "name": "agent",
                "image": "registry.example.com/payments-bot:1.4.2",
                "ports": [{ "containerPort": 8080, "protocol": "TCP" }],
                "env": [
                  { "name": "LOG_LEVEL", "value": "info" },
                  { "name": "OPENAI_API_KEY", "valueFrom": { "secretKeyRef": { "name": "openai", "key": "key" } } }
                ],
                "resources": { "requests": { "cpu": "250m", "memory": "256Mi" }, "limits": { "memory": "512Mi" } },
                "readinessProbe": { "httpGet": { "path": "/ready", "port": 8080 } },
                "volumeMounts": [{ "name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true }]
              },
              { "name": "metrics", "image": "registry.example.com/metrics-exporter:0.9", "resources": {} }
            ],
            "volumes": [{ "name": "kube-api-access-x7k2p", "projected": { "sources": [{ "serviceAccountToken": { "path": "token", "expirationSeconds": 3607 } }] } }],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "securityContext": { "runAsNonRoot": true },
            "priority": 0,
            "enableServiceLinks": true
          }
        }
        """)!.AsObject();

    /// <summary>An AdmissionReview v1 request for creating <paramref name="pod"/> in <paramref name="ns"/>.</summary>
    public static JsonObject Review(JsonObject pod, string ns = "agents", string uid = "705ab4f5-6393-11e8-b7cc-42010a800002", bool dryRun = false, string operation = "CREATE") => new()
    {
        ["apiVersion"] = "admission.k8s.io/v1",
        ["kind"] = "AdmissionReview",
        ["request"] = new JsonObject
        {
            ["uid"] = uid,
            ["kind"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["kind"] = "Pod" },
            ["resource"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["resource"] = "pods" },
            ["requestKind"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["kind"] = "Pod" },
            ["requestResource"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["resource"] = "pods" },
            ["namespace"] = ns,
            ["operation"] = operation,
            ["userInfo"] = new JsonObject
            {
                ["username"] = "system:serviceaccount:kube-system:replicaset-controller",
                ["uid"] = "a7d5b1a0-0f3e-4c55-9a8e-3b1f6f0c2d44",
                ["groups"] = new JsonArray("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"),
            },
            ["object"] = pod.DeepClone(),
            ["oldObject"] = null,
            ["dryRun"] = dryRun,
            ["options"] = new JsonObject { ["apiVersion"] = "meta.k8s.io/v1", ["kind"] = "CreateOptions" },
        },
    };
}
