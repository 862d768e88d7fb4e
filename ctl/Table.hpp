// Table: the aligned columns of megactl's human output (`list`), sized to the widest cell so a
// reader's eye runs down a column; the last column is never padded (no trailing blanks).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace megafuse::ctl {

class Table {
public:
    explicit Table(std::vector<std::string> header);

    // A row with as many cells as the header.
    void addRow(std::vector<std::string> cells);
    void print(std::ostream& out) const;

private:
    std::vector<std::vector<std::string>> rows_;  // header first
};

}  // namespace megafuse::ctl
