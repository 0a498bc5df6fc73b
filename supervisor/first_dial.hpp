// One server first: the tinc.conf a gateway's tincd starts with dials only its first ConnectTo
// server, and the rest once a peer is up (TincDriver). Pure.
//
// Why: tinc 1.0 sends a fresh packet key (ANS_KEY) to a node the moment it becomes reachable
// and is directly connected, along the path it knows then; the node's own REQ_KEY is answered
// with yet another key on the direct path. A node that connects to two servers at once learns
// server A through server B's edges first (A's own edge is still on its way), so the first key
// to A travels through B and can arrive after the second: A keeps the older key, every UDP
// packet between them fails authentication, and the meta connection stays up (measured in the
// network_join lab: 2 joins in 4, each a 25 s outage until the stale-path watch restarted
// tincd, which dialled both at once again). Dialled one at a time, every other server becomes
// reachable through the first before there is a direct connection to it: one key, one path.
#pragma once

#include <string>

namespace meshbroker::supervisor {

// tinc.conf with its ConnectTo lines after the first removed; the same text with one or none.
std::string firstDialOnly(const std::string& tinc_conf);

// The name in the first ConnectTo line ("" without one).
std::string firstDial(const std::string& tinc_conf);

}  // namespace meshbroker::supervisor
