module local/setpoint-k8s-tier/githttp

go 1.26
