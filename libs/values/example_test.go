package values_test

import (
	"fmt"
	"time"

	"github.com/ferrydata/ferry/libs/values"
)

func ExampleParseDate() {
	dayFirst, err := values.ParseLayout("DD/MM/YYYY")
	if err != nil {
		panic(err)
	}
	fmt.Println(values.ParseDate("03/04/2024", []*values.DateLayout{dayFirst}))
	fmt.Println(values.ParseDate("03/04/2024", nil))
	// Output:
	// 2024-04-03 <nil>
	//  "03/04/2024" reads as 3 April 2024 (day first) or March 4, 2024 (month first); set the date format (DD/MM/YYYY or MM/DD/YYYY) to say which
}

func ExampleParseTimestamp() {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	layout, err := values.ParseLayout("DD.MM.YYYY HH:mm")
	if err != nil {
		panic(err)
	}
	fmt.Println(values.ParseTimestamp("01.07.2024 09:30", []*values.DateLayout{layout}, berlin))
	fmt.Println(values.ParseTimestamp("31.03.2024 02:30", []*values.DateLayout{layout}, berlin))
	// Output:
	// 2024-07-01T07:30:00Z <nil>
	//  "31.03.2024 02:30" does not exist in time zone Europe/Berlin: the clocks skip this local time
}

func ExampleParseNumber() {
	fmt.Println(values.ParseNumber("1.234.567,50", values.NumberFormat{Decimal: ',', Thousands: '.'}))
	fmt.Println(values.ParseNumber("12,34.5", values.NumberFormat{Decimal: '.', Thousands: ','}))
	// Output:
	// 1234567.50 <nil>
	//  "12,34.5" has thousands separators in the wrong places: with decimal separator "." and thousands separator ",", groups of 3 digits are expected, as in 1,234,567.5
}
