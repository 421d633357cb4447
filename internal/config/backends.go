package config

// The NATS and etcd settings of the edge and the controller: the same
// flags, meanings and checks in both programs.

// natsSettings binds -nats-url and -embedded-nats-addr.
func (fs *fieldSet) natsSettings(url, embeddedAddr *string) {
	fs.str(url, "nats-url", "nats_url",
		`NATS server URLs, comma-separated ("" starts an embedded NATS server)`)
	fs.str(embeddedAddr, "embedded-nats-addr", "embedded_nats_addr",
		"listen address of the embedded NATS server (used when -nats-url is empty)")
}

// etcdSettings binds -etcd-endpoints, -embedded-etcd-addr and
// -embedded-etcd-dir.
func (fs *fieldSet) etcdSettings(endpoints, embeddedAddr, embeddedDir *string) {
	fs.str(endpoints, "etcd-endpoints", "etcd_endpoints",
		`etcd endpoints, comma-separated ("" starts an embedded etcd server)`)
	fs.str(embeddedAddr, "embedded-etcd-addr", "embedded_etcd_addr",
		"client address of the embedded etcd server (used when -etcd-endpoints is empty)")
	fs.str(embeddedDir, "embedded-etcd-dir", "embedded_etcd_dir",
		`data directory of the embedded etcd server ("" = one per address under the user cache directory)`)
}

// checkNATSSettings checks -nats-url, or -embedded-nats-addr when no URL
// is given.
func (p *problems) checkNATSSettings(url, embeddedAddr string) {
	if url != "" {
		urls := splitList(url)
		if len(urls) == 0 {
			p.addf("nats-url", "%q holds no URL", url)
		}
		for _, u := range urls {
			p.add("nats-url", checkNATSURL(u))
		}
	} else if embeddedAddr == "" {
		p.addf("embedded-nats-addr", "required when -nats-url is empty (an embedded NATS server is started)")
	} else {
		p.add("embedded-nats-addr", checkAddr(embeddedAddr))
	}
}

// checkEtcdSettings checks -etcd-endpoints, or -embedded-etcd-addr when no
// endpoint is given.
func (p *problems) checkEtcdSettings(endpoints, embeddedAddr string) {
	if endpoints != "" {
		eps := splitList(endpoints)
		if len(eps) == 0 {
			p.addf("etcd-endpoints", "%q holds no endpoint", endpoints)
		}
		for _, ep := range eps {
			p.add("etcd-endpoints", checkEtcdEndpoint(ep))
		}
	} else if embeddedAddr == "" {
		p.addf("embedded-etcd-addr", "required when -etcd-endpoints is empty (an embedded etcd server is started)")
	} else {
		p.add("embedded-etcd-addr", checkAddr(embeddedAddr))
	}
}
