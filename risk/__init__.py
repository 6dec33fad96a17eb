"""Central risk register: risks, owners, mitigation actions, acceptance by the authority (to come)."""
