// libnl-3 sockets: allocated, connected and freed in one place.
#include "io/netlink.hpp"

#include <linux/netlink.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

namespace meshbroker::io {
namespace {

std::string protocolName(int protocol) {
  switch (protocol) {
    case NETLINK_ROUTE:
      return "route";
    case NETLINK_GENERIC:
      return "generic";
    default:
      return "protocol " + std::to_string(protocol);
  }
}

}  // namespace

void NetlinkSocketDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

NetlinkSocket connectNetlink(int protocol, std::string* error) {
  NetlinkSocket sock(nl_socket_alloc());
  if (!sock) {
    *error = "cannot allocate a netlink socket";
    return nullptr;
  }
  if (int rc = nl_connect(sock.get(), protocol); rc < 0) {
    *error = "cannot open a netlink " + protocolName(protocol) + " socket: " + nl_geterror(rc);
    return nullptr;
  }
  return sock;
}

}  // namespace meshbroker::io
