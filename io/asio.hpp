// Include Boost.Asio through here: Boost 1.74's asio/awaitable.hpp uses std::exchange without
// including <utility>, which g++ 12 in C++20 mode rejects.
#pragma once

// clang-format off
#include <utility>  // must come before Boost.Asio
#include <boost/asio.hpp>
// clang-format on

namespace meshbroker {
namespace asio = boost::asio;
}  // namespace meshbroker
