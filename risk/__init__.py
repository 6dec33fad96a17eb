"""Central risk register: risks, owners, mitigation actions, acceptance by the authority.

To come; see ../shared/ARCHITECTURE.md.
"""
