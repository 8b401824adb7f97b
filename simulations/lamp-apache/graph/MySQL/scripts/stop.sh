#!/usr/bin/env bash
# The MariaDB server is the host's, shared by every instance: nothing stops with this one (its exports are
# withdrawn by the agent, so the Tomcats stop using it).
exit 0
