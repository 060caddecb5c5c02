package layout

// Names and addresses of the devhost network. The devhost lives in one network
// namespace joined to the machine by one veth pair; nothing routes further.
const (
	// NetnsName is the network namespace, /run/netns/kplex-devhost.
	NetnsName = "kplex-devhost"
	// NetnsPath is where `ip netns` pins the namespace.
	NetnsPath = "/run/netns/" + NetnsName
	// HostVeth is the machine's end of the veth pair.
	HostVeth = "kplexdh0"
	// NodeVeth is the namespace's end of the veth pair.
	NodeVeth = "eth0"
	// HostIP is the machine's address on the veth pair.
	HostIP = "10.213.0.1"
	// NodeIP is the node's address: API server, kubelet, NodePorts.
	NodeIP = "10.213.0.2"
	// VethPrefixLen is the prefix length of the veth link network.
	VethPrefixLen = 30
	// VethCIDR is the veth link network.
	VethCIDR = "10.213.0.0/30"
	// MetadataIP is the stand-in cloud metadata endpoint, served on port 80 in the namespace.
	MetadataIP = "169.254.169.254"
	// UpstreamDNSIP is the stand-in upstream DNS server, served on port 53 in the namespace;
	// it is the only nameserver in the resolv.conf the node gives to pods.
	UpstreamDNSIP = "10.213.53.53"
	// ClusterCIDR is the pod network; the node gets a /24 of it.
	ClusterCIDR = "10.244.0.0/16"
	// NodePodCIDR is the node's share of ClusterCIDR: the first /24, the one the
	// node IPAM controller would give the only node.
	NodePodCIDR = "10.244.0.0/24"
	// ServiceCIDR is the Service ClusterIP range.
	ServiceCIDR = "10.96.0.0/16"
	// APIPort is the API server's port on NodeIP.
	APIPort = 6443
	// NodeName is the name of the only node.
	NodeName = "kplex-devhost"
	// BridgeName is the pods' bridge inside the namespace.
	BridgeName = "kplex0"
	// CNINetworkName names the CNI network (and its entries in the CNI result cache).
	CNINetworkName = "kplex-devhost"
	// CgroupRoot is the cgroup under which the kubelet puts every pod.
	CgroupRoot = "/kplex-devhost"
	// HostGuardTable is the nftables table on the machine that drops traffic
	// forwarded from the devhost to anywhere but the devhost.
	HostGuardTable = "kplex_devhost_guard"
)

// APIServerURL is the API server as seen from the machine and from the node.
const APIServerURL = "https://10.213.0.2:6443"
