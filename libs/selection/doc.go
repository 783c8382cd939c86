// Package selection compiles the selection of an export profile, a filter
// over the fields of a dataset, into an SQL condition that PostgreSQL
// applies to the dataset's table.
//
// # The selection language
//
// A selection is a condition written in CEL, the Common Expression
// Language (https://cel.dev), over the fields of the dataset. A row is
// exported when the condition holds; an empty selection exports every row.
//
//	grade >= 9 && school == "North"
//	email.endsWith("@example.org")
//	status in ["active", "pending"]
//	left == null
//	born >= date("2010-01-01")
//	!(balance < 0.5)
//
// Fields are named as in the dataset. Values are written as literals:
//
//	strings      "North" or 'North', with escapes such as \" and \n
//	integers     9, -3
//	decimals     0.5, -1.25, 1e3 (exact: 0.1 is one tenth)
//	booleans     true, false
//	null         null
//	dates        date("2010-01-01")
//	timestamps   timestamp("2024-01-31T08:00:00Z"), timestamp("2024-01-31T09:00:00+01:00")
//
// A selection is made of these conditions:
//
//	field == value, field != value        equal, not equal
//	field < value (also <=, >, >=)        ordering; 9 <= grade works too
//	field == other_field (and the rest)   two fields of the same type
//	field == null, field != null          the field is empty, is not empty
//	field in [value, ...]                 one of the values; [] is none
//	name.startsWith("Ad")                 string fields; the text is taken as it is:
//	name.endsWith("son")                  % and _ are not wildcards
//	name.contains("x")
//	active                                a boolean field that is true
//	a && b, a || b, !a, (a)               and, or, not, grouping
//
// A field is compared with values of its type:
//
//	string      strings
//	integer     integers; decimals with <, <=, > and >= (grade < 8.5)
//	decimal     decimals and integers (balance == 10)
//	boolean     true and false
//	date        date("YYYY-MM-DD")
//	timestamp   timestamp("RFC 3339"), and date("YYYY-MM-DD"), which is midnight UTC
//	JSON        null only
//
// An integer and a decimal field can be ordered against each other
// (grade <= balance), but not tested for equality. Strings are ordered by
// Unicode code point, whatever the database's language: "Z" < "a" < "Á".
// Timestamps have a precision of a microsecond. A JSON field that holds
// the JSON value null is not empty: meta == null is true only when the
// field holds nothing at all.
//
// Nothing else is supported: no arithmetic (grade + 1), no other functions
// or conversions (size, matches, string), no macros (has, exists, all, map,
// filter), no fields inside a JSON value (meta.x), no conditional operator
// (a ? b : c). A field whose name is a word that CEL reserves, such as in,
// as or package, cannot be named. A selection that uses what is not
// supported, names an unknown field or compares values of different types
// is refused when the profile is applied, with the line and the column of
// each problem:
//
//	line 1, column 7: operator + is not supported
//	line 1, column 1: unknown field "grde" (did you mean "grade"?)
//	line 1, column 7: grade is an integer field and cannot be compared with a string
//
// # Empty fields
//
// An empty field is null. Null equals null and nothing else, and every
// other comparison with it is false:
//
//	status == "a"           false when status is empty
//	status != "a"           true when status is empty
//	grade < 5, grade >= 5   both false when grade is empty
//	status in ["a", "b"]    false when status is empty
//	name.startsWith("A")    false when name is empty
//	name == school          true when both are empty
//	active                  false when active is empty
//
// ! is always the exact opposite: !(balance < 0.5) selects every row that
// balance < 0.5 does not, those with an empty balance included; write
// balance >= 0.5 to leave them out. A selection and its opposite together
// select every row once.
//
// These are CEL's rules, not SQL's: in SQL, status <> 'a' leaves out the
// rows where status is NULL, and so does NOT (balance < 0.5). The compiled
// condition keeps CEL's rules with IS DISTINCT FROM and IS NULL where they
// differ, and uses plain comparisons, which indexes serve, where they agree.
//
// # SQL
//
// Compile translates a selection into Query.Where, a condition on the
// dataset's table. Every value travels as an argument of a placeholder
// ($1, $2, …), cast to the column's type; names are only the dataset's
// fields, quoted. So PostgreSQL filters the rows itself and can use the
// table's indexes. Query.OrderBy orders the rows by the profile's sort keys
// and then by the dataset key, so that every run exports them in the same
// order.
package selection
