//! Container networking: Linux bridges, veth pairs, network namespaces, IPAM, nftables rules, published ports and embedded DNS.
