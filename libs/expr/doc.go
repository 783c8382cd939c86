// Package expr compiles and runs the expressions of an import profile: a
// field expression computes one field of the dataset from a source record,
// and a row rule checks a mapped row. Expressions are written in CEL, the
// Common Expression Language (https://cel.dev), with the variables and
// functions below. They are compiled once and run for every row, cannot
// read files, the clock or the environment, and stop with an error when
// they exceed their cost limit.
//
// # Variables
//
//	row     map of header name to cell: row["First Name"], or row.email for names that are identifiers
//	cols    list of cells by position, from 0: cols[0] is the first column
//	value   the cell of the mapping's own source column, or "" when it names none
//	fields  row rules only: the mapped values of the row by field name, typed
//	        (string, int, double, bool, timestamp for dates and timestamps, null);
//	        an empty map in field expressions
//
// Every cell is a string. A missing column is an error (no column "Emial" in
// the file); has(row.Name) and "Name" in row test whether a column exists.
//
// # Functions
//
// Positions and lengths count characters, not bytes.
//
//	trim(s)                          trim("  Ada ") == "Ada" (spaces at both ends removed)
//	upper(s)                         upper("Ada") == "ADA"
//	lower(s)                         lower("ADA") == "ada"
//	concat(a, b, ...)                concat(row.first, " ", row.last) == "Ada Lovelace" (2 to 8 strings)
//	join(list, sep)                  join(["a", "b"], "-") == "a-b"
//	split(s, sep)                    split("a;b", ";") == ["a", "b"]
//	substring(s, start)              substring("Lovelace", 4) == "lace"
//	substring(s, start, end)         substring("Lovelace", 0, 4) == "Love" (end excluded; out of range is an error)
//	replace(s, old, new)             replace("1-2-3", "-", "") == "123" (every occurrence)
//	regex_extract(s, pattern)        regex_extract("Order 1234", "[0-9]+") == "1234"; with a group, the first group:
//	                                 regex_extract("id=42;", "id=([0-9]+)") == "42"; "" when nothing matches (RE2 syntax)
//	regex_extract(s, pattern, n)     regex_extract("2024-05", "([0-9]+)-([0-9]+)", 2) == "05" (0 is the whole match)
//	coalesce(a, b, ...)              coalesce(row.mobile, row.phone) == the first that is not blank, or "" (2 to 8 strings)
//	default(s, d)                    default(row.country, "DE") == row.country, or "DE" when it is blank
//	parse_date(s)                    parse_date("2024-05-01") == "2024-05-01" (ISO 8601 only)
//	parse_date(s, format)            parse_date("01.05.2024", "DD.MM.YYYY") == "2024-05-01"
//	parse_timestamp(s)               parse_timestamp("2024-05-01T09:00:00+02:00") == "2024-05-01T07:00:00Z" (RFC 3339)
//	parse_timestamp(s, format)       parse_timestamp("01.05.2024 09:00 +02:00", "DD.MM.YYYY HH:mm Z") == "2024-05-01T07:00:00Z"
//	parse_timestamp(s, format, zone) parse_timestamp("01.05.2024 09:00", "DD.MM.YYYY HH:mm", "Europe/Berlin") == "2024-05-01T07:00:00Z"
//	parse_number(s)                  parse_number("-1234.50") == "-1234.50"
//	parse_number(s, dec, thousands)  parse_number("1.234,50", ",", ".") == "1234.50" (thousands may be "")
//	parse_bool(s)                    parse_bool("Yes") == true (true/false, yes/no, y/n, t/f, 1/0)
//	parse_bool(s, trues, falses)     parse_bool("ja", ["ja"], ["nein"]) == true
//	xref(table, s)                   xref("countries", "DE") == "Germany" (an unknown value is an error)
//	xref(table, s, default)          xref("countries", "XX", "unknown") == "unknown"
//
// Date and timestamp formats use the tokens YYYY, YY, MM, M, MMM (Jan),
// MMMM (January), DD, D, HH, H, hh and h with A (AM/PM), mm, ss, SSS
// (fraction of a second) and Z (UTC offset); "ISO" means ISO 8601. A date is
// never guessed: parse_date("03/04/2024") is an error that names both
// readings. A local time that does not exist or happens twice in the zone
// (daylight saving time changes) is an error too. Results are text in the
// canonical form of the field type: dates YYYY-MM-DD, timestamps RFC 3339 in
// UTC, numbers as plain decimals with their trailing zeros.
//
// CEL's standard operators, macros and conversions are available as well:
// == != < <= > >= + - * / %, && || !, c ? a : b, in, size(x), has(row.x),
// list.exists(x, p), list.all(x, p), list.map(x, f), list.filter(x, p),
// s.matches(re), s.startsWith(t), s.endsWith(t), s.contains(t), int(s),
// double(s), string(x), dyn(x) and timestamp(s). A field expression yields
// a string, number, bool or null; to yield null on one branch only, write
// dyn(null): row.email == "" ? dyn(null) : lower(row.email). A row rule
// yields a bool, for example
//
//	fields.end_date >= fields.start_date
//	fields.age == null || fields.age >= 18
//
// # Cost
//
// Every Eval has a cost limit (DefaultCostLimit unless the profile sets
// one). Each operation costs about one unit and text functions one unit per
// ten characters; an expression that goes over, such as nested loops over
// long lists, fails with "expression exceeded its cost limit of N".
package expr
