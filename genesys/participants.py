"""Who a Genesys conversation participant is, by its purpose (genesys-api.md §4.4, §7.1, §12).

The one place these purpose lists live: discovery picks legs and agents with them, the transcript store
attributes speakers with them, and the review page labels legs with them.
"""

from __future__ import annotations

# The party outside the contact centre: `customer` on inbound calls, `external` on agent-placed outbound calls.
EXTERNAL_PURPOSES = frozenset({"customer", "external"})
# A person on the contact centre's side: `agent` on queue calls, `user` on direct and many outbound calls.
AGENT_PURPOSES = frozenset({"agent", "user"})
