// Table: width is counted in code points, so UTF-8 names (legal in mountpoints) stay aligned.
#include "Table.hpp"

#include <algorithm>
#include <utility>

namespace megafuse::ctl {
namespace {

size_t displayWidth(const std::string& text) {
    return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
    }));
}

}  // namespace

Table::Table(std::vector<std::string> header) {
    rows_.push_back(std::move(header));
}

void Table::addRow(std::vector<std::string> cells) {
    cells.resize(rows_.front().size());
    rows_.push_back(std::move(cells));
}

void Table::print(std::ostream& out) const {
    const size_t columns = rows_.front().size();
    std::vector<size_t> widths(columns, 0);
    for (const auto& row : rows_) {
        for (size_t c = 0; c < columns; ++c) {
            widths[c] = std::max(widths[c], displayWidth(row[c]));
        }
    }
    for (const auto& row : rows_) {
        std::string line;
        for (size_t c = 0; c < columns; ++c) {
            line += row[c];
            if (c + 1 < columns) {
                line.append(widths[c] - displayWidth(row[c]) + 2, ' ');
            }
        }
        out << line << '\n';
    }
}

}  // namespace megafuse::ctl
