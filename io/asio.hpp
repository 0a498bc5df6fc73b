// Include Boost.Asio through here: Boost 1.74's asio/awaitable.hpp uses std::exchange without
// including <utility>, which g++ 12 in C++20 mode rejects.
#pragma once

#include <boost/asio.hpp>
#include <utility>  // must come first

namespace meshbroker {
namespace asio = boost::asio;
}  // namespace meshbroker
