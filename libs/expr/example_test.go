package expr_test

import (
	"fmt"
	"time"

	"github.com/ferrydata/ferry/libs/expr"
)

func ExampleCompile() {
	p, err := expr.Compile(`concat(upper(trim(row["Last Name"])), ", ", trim(row["First Name"]))`, expr.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Columns(), p.ResultType())

	in := &expr.Input{Header: []string{"First Name", "Last Name"}}
	for _, record := range [][]string{{"Ada ", "Lovelace"}, {"Grace", " Hopper"}} {
		in.Record = record
		v, err := p.Eval(in)
		fmt.Println(v, err)
	}

	_, err = expr.Compile(`upper(uper(row.name))`, expr.Options{})
	fmt.Println(err)
	// Output:
	// [First Name Last Name] string
	// LOVELACE, Ada <nil>
	// HOPPER, Grace <nil>
	// line 1, column 7: undeclared reference to 'uper'
}

func ExampleCompile_rowRule() {
	p, err := expr.Compile(`fields.end_date >= fields.start_date`, expr.Options{RowRule: true})
	if err != nil {
		panic(err)
	}
	in := &expr.Input{Fields: map[string]any{
		"start_date": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		"end_date":   time.Date(2024, 4, 30, 0, 0, 0, 0, time.UTC),
	}}
	fmt.Println(p.Eval(in))
	// Output: false <nil>
}
