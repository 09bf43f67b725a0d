// Stand-in for github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc, which the Go module
// proxy does not serve (403). flannel's main.go links its tencentvpc backend unconditionally; the
// test bed never selects that backend (net-conf.json says vxlan), so this module only has to
// provide the names the backend uses, and every call says the backend is not available in this build.
module github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc

go 1.26.0
