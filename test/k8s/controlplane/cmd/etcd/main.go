// Command etcd is the etcd server, built from the same go.sum as
// kube-apiserver so that both programs come from one pinned dependency set.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
