// The render folder (paths.render_dir) as backends read it: what it holds before a start
// rewrites it (what backends left running were started with), and writing a new set of
// rendered files, removing the ones the new config no longer makes.
#pragma once

#include <filesystem>
#include <vector>

#include "model/rendered_file.hpp"

namespace meshbroker::supervisor {

// The files `expected` names, and every tinc host file, as they are on disk now.
std::vector<model::RenderedFile> renderedOnDisk(const std::filesystem::path& render_dir,
                                                const std::vector<model::RenderedFile>& expected);

// Writes `files` (atomically, unchanged ones untouched: io::writeFiles, which throws
// io::WriteError). With `previous` (a reload), files it had and `files` has not are removed;
// without (a start), tinc host files `files` does not name, and scripts earlier versions
// rendered, are removed.
void writeRendered(const std::filesystem::path& render_dir,
                   const std::vector<model::RenderedFile>& files,
                   const std::vector<model::RenderedFile>* previous);

}  // namespace meshbroker::supervisor
