// ProgressBar: "\r" + erase-line redraws; the bar is 30 cells, or a spinner and a count when the
// total is unknown (a clone's object count is known only late). stderr is unbuffered (glibc), so
// each fputs reaches the terminal at once: no fflush.
#include "ProgressBar.hpp"

#include <unistd.h>

#include <cstdio>

namespace megafuse::ctl {
namespace {

constexpr unsigned kBarCells = 30;
constexpr const char* kEraseLine = "\r\033[2K";

}  // namespace

ProgressBar::ProgressBar(bool enabled) : enabled_(enabled) {}

ProgressBar::~ProgressBar() {
    clear();
}

bool ProgressBar::terminalAttached() {
    return ::isatty(STDERR_FILENO) == 1;
}

ProgressHandler ProgressBar::handler() {
    if (!enabled_) {
        return nullptr;
    }
    return [this](const ProgressEvent& event) { update(event); };
}

void ProgressBar::update(const ProgressEvent& event) {
    if (!enabled_) {
        return;
    }
    std::string line = kEraseLine + event.operation;
    if (event.total > 0) {
        const uint64_t done = event.done > event.total ? event.total : event.done;
        const auto filled = static_cast<unsigned>(done * kBarCells / event.total);
        line += " [" + std::string(filled, '#') + std::string(kBarCells - filled, '-') + "] " +
                std::to_string(done * 100 / event.total) + "% " + std::to_string(done) + "/" +
                std::to_string(event.total);
    } else {
        static constexpr const char kSpinner[] = {'|', '/', '-', '\\'};
        line += std::string(" ") + kSpinner[spinner_++ % sizeof kSpinner];
        if (event.done > 0) {
            line += " " + std::to_string(event.done);
        }
    }
    std::fputs(line.c_str(), stderr);
    drawn_ = true;
}

void ProgressBar::clear() {
    if (drawn_) {
        std::fputs(kEraseLine, stderr);
        drawn_ = false;
    }
}

}  // namespace megafuse::ctl
