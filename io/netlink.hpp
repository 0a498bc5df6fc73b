// The one way to open a libnl-3 socket, and unique_ptr owners for libnl's objects.
#pragma once

#include <memory>
#include <string>

struct nl_sock;

namespace meshbroker::io {

// Frees a libnl object with its own free/put function: NlPtr<rtnl_route, rtnl_route_put>.
// Header-only and free of libnl's headers: the file that names Free includes them.
template <class T, void (*Free)(T*)>
struct FreeWith {
  void operator()(T* p) const { Free(p); }
};
template <class T, void (*Free)(T*)>
using NlPtr = std::unique_ptr<T, FreeWith<T, Free>>;

struct NetlinkSocketDeleter {
  void operator()(nl_sock* sock) const;  // nl_socket_free
};
using NetlinkSocket = std::unique_ptr<nl_sock, NetlinkSocketDeleter>;

// A libnl socket connected to the netlink protocol (NETLINK_ROUTE, ...), or nullptr with
// *error saying why ("cannot open a netlink route socket: Operation not permitted").
NetlinkSocket connectNetlink(int protocol, std::string* error);

}  // namespace meshbroker::io
