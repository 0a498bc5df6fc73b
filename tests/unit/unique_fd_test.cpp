// UniqueFd: closes what it owns exactly once (destruction, move, reset), never what it released.
#include "io/unique_fd.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <utility>

namespace meshbroker::io {
namespace {

// A pipe whose write end the test hands to a UniqueFd: the read end sees end-of-file once every
// copy of the write end is closed, which proves a close without guessing at descriptor numbers
// (a closed number may be reused at once).
class Pipe {
 public:
  Pipe() {
    int ends[2];
    EXPECT_EQ(::pipe2(ends, O_CLOEXEC | O_NONBLOCK), 0);
    read_ = ends[0];
    write_ = ends[1];
  }
  ~Pipe() { ::close(read_); }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  int writeEnd() const { return write_; }
  // True once the write end is closed: read() reports end-of-file instead of EAGAIN.
  bool writeEndClosed() const {
    char byte;
    return ::read(read_, &byte, 1) == 0;
  }

 private:
  int read_ = -1;
  int write_ = -1;
};

TEST(UniqueFdTest, EmptyByDefaultAndForNegativeNumbers) {
  UniqueFd none;
  EXPECT_FALSE(none.valid());
  EXPECT_FALSE(none);
  EXPECT_EQ(none.get(), -1);
  UniqueFd failed(-5);  // what a failed ::open returns is -1, but any negative means none
  EXPECT_FALSE(failed);
  EXPECT_EQ(failed.get(), -1);
  EXPECT_EQ(failed.release(), -1);
}

TEST(UniqueFdTest, ClosesOnDestruction) {
  Pipe pipe;
  {
    UniqueFd fd(pipe.writeEnd());
    EXPECT_TRUE(fd.valid());
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), pipe.writeEnd());
    EXPECT_FALSE(pipe.writeEndClosed());
  }
  EXPECT_TRUE(pipe.writeEndClosed());
}

TEST(UniqueFdTest, MoveConstructionTransfersOwnership) {
  Pipe pipe;
  UniqueFd first(pipe.writeEnd());
  {
    UniqueFd second(std::move(first));
    EXPECT_FALSE(first);  // a moved-from UniqueFd is empty, by contract
    EXPECT_EQ(second.get(), pipe.writeEnd());
    first = UniqueFd();  // destroying the moved-from one closes nothing
    EXPECT_FALSE(pipe.writeEndClosed());
  }
  EXPECT_TRUE(pipe.writeEndClosed());
}

TEST(UniqueFdTest, MoveAssignmentClosesWhatTheTargetHeld) {
  Pipe old_pipe;
  Pipe new_pipe;
  UniqueFd target(old_pipe.writeEnd());
  UniqueFd source(new_pipe.writeEnd());
  target = std::move(source);
  EXPECT_TRUE(old_pipe.writeEndClosed());
  EXPECT_FALSE(new_pipe.writeEndClosed());
  EXPECT_FALSE(source);
  EXPECT_EQ(target.get(), new_pipe.writeEnd());
  target = UniqueFd();
  EXPECT_TRUE(new_pipe.writeEndClosed());
}

TEST(UniqueFdTest, SelfMoveAssignmentKeepsTheDescriptor) {
  Pipe pipe;
  UniqueFd fd(pipe.writeEnd());
  UniqueFd& alias = fd;
  fd = std::move(alias);
  EXPECT_EQ(fd.get(), pipe.writeEnd());
  EXPECT_FALSE(pipe.writeEndClosed());
}

TEST(UniqueFdTest, ReleaseGivesUpOwnershipWithoutClosing) {
  Pipe pipe;
  int raw = -1;
  {
    UniqueFd fd(pipe.writeEnd());
    raw = fd.release();
    EXPECT_FALSE(fd);
    EXPECT_EQ(fd.get(), -1);
  }
  EXPECT_EQ(raw, pipe.writeEnd());
  EXPECT_FALSE(pipe.writeEndClosed());
  EXPECT_EQ(::write(raw, "x", 1), 1);  // still open, and the caller's to close
  ::close(raw);
}

TEST(UniqueFdTest, ResetClosesTheOldDescriptorAndTakesTheNewOne) {
  Pipe first;
  Pipe second;
  UniqueFd fd(first.writeEnd());
  fd.reset(second.writeEnd());
  EXPECT_TRUE(first.writeEndClosed());
  EXPECT_EQ(fd.get(), second.writeEnd());
  fd.reset(second.writeEnd());  // the same number again: kept, not closed
  EXPECT_FALSE(second.writeEndClosed());
  fd.reset();
  EXPECT_TRUE(second.writeEndClosed());
  EXPECT_FALSE(fd);
  fd.reset();  // empty: nothing to close
  EXPECT_FALSE(fd);
}

}  // namespace
}  // namespace meshbroker::io
