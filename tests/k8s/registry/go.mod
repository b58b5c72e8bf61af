module local/setpoint-k8s-tier/registry

go 1.26

require github.com/google/go-containerregistry v0.21.6 // indirect

tool github.com/google/go-containerregistry/cmd/registry
