package main

import (
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// csvCases are the delimited text files: encodings, dialects, row numbers.
func csvCases() []inputCase {
	return []inputCase{
		// Excel "CSV UTF-8 (Comma delimited)": BOM, comma, CRLF, a CRLF after the last record.
		{dir: "01-excel-csv-utf8-bom-crlf", file: "input.csv", gen: text(bomUTF8 + lines(crlf,
			"Student ID,First Name,Last Name,Email,Grade,Homeroom",
			`000123,Zoë,"O'Brien, Jr.",zoe@example.org,10,B-12`,
			"000124,José,Müller,jose@example.org,10,",
			`000125,Ann,"Say ""Hi""",,11,C-01`,
			"000126,Łukasz,Nowak-Żółć,lukasz@example.org,9,B-12",
		))},
		// A web application's export: UTF-8 without BOM, LF, many scripts, an emoji (4 bytes).
		{dir: "02-utf8-no-bom", file: "input.csv", gen: text(lines(lf,
			"id,name,city,note",
			"1,Zoë Ødegård,Tromsø,",
			"2,王芳,北京,三年级",
			"3,Nguyễn Thị Minh Khai,Hà Nội,",
			`4,Sam 🚀,København,"emoji, comma"`,
			"5,نور حداد,عمّان,right-to-left",
		))},
		// Excel "Unicode Text (*.txt)": UTF-16 LE with BOM, tab-separated, CRLF,
		// a field with quotes quoted and doubled, an emoji as a surrogate pair.
		{dir: "03-utf16le-bom-tab-excel-unicode-text", file: "input.txt", gen: func() ([]byte, error) {
			return utf16Text(lines(crlf,
				"ID\tName\tCity\tComment",
				"1\tZoë\tKøbenhavn\tA, B and C",
				"2\t李小龍\t香港\t",
				"3\tAna 🎓\tSão Paulo\t\"Say \"\"Hi\"\"\"",
			), false), nil
		}},
		// UTF-16 BE with BOM, comma, CRLF.
		{dir: "04-utf16be-bom", file: "input.csv", gen: func() ([]byte, error) {
			return utf16Text(lines(crlf,
				"id,name,city",
				"1,Zoë,Zürich",
				"2,Ελένη,Αθήνα",
				"3,Иван,Москва",
			), true), nil
		}},
		// The profile says windows-1252 (the old system's export); the new
		// system writes UTF-8 with a BOM. The BOM wins.
		{dir: "05-utf8-bom-wins-over-declared-encoding", file: "input.csv", gen: text(bomUTF8 + lines(crlf,
			"id;name;city",
			"1;Zoë;Köln",
			"2;Ødegård;Tromsø",
			"3;Crème Brûlée;Besançon",
		))},
		// French Excel "CSV (séparateur : point-virgule)": windows-1252,
		// semicolon, CRLF; € (0x80), curly quotes (0x93/0x94, 0x91/0x92, 0x84),
		// en dash (0x96), ellipsis (0x85), ™ (0x99), Œ (0x8C), Š (0x8A), and
		// a no-break space (0xA0) as the thousands separator.
		{dir: "06-windows-1252-semicolon-euro-curly-quotes", file: "input.csv", gen: mustContain(encoded(charmap.Windows1252, lines(crlf,
			"Réf;Client;Commentaire;Montant",
			"A-001;Zoé Lefèvre;“Livraison rapide” – merci;€12,50",
			"A-002;François O’Neil;Très bien…;1\u00a0234,56 €",
			"A-003;Jürgen Groß;Qualität™ „gut“;0,99 €",
			"A-004;Œdipe Šafránek;‘single’ quotes;",
		)), "\x80", "\x93", "\x94", "\x91", "\x92", "\x84", "\x96", "\x85", "\x99", "\x8c", "\x8a", "\xa0")},
		// ISO-8859-1: 0xA4 is the currency sign ¤ (in ISO-8859-15 it is €).
		{dir: "07-iso-8859-1", file: "input.csv", gen: mustContain(encoded(charmap.ISO8859_1, lines(lf,
			"id,name,city,note",
			"1,Søren Kierkegård,København,¤ 100",
			"2,Åsa Öberg,Malmö,½ price",
			"3,Jürgen Groß,Düsseldorf,© 2024",
			`4,Maëlle Ñúñez,Córdoba,"¼ off, 25°C"`,
		)), "\xa4", "\xbd", "\xbc")},
		// ISO-8859-15: the same byte 0xA4 is €, 0xBC Œ, 0xBD œ, 0xBE Ÿ, 0xA6 Š, 0xB4 Ž.
		{dir: "08-iso-8859-15-euro", file: "input.csv", gen: mustContain(encoded(charmap.ISO8859_15, lines(lf,
			"id;name;city;price",
			"1;Œuvre Ÿvette;Paris;12,50 €",
			"2;Šárka Žáková;Brno;€ 9,99",
			"3;Zoë Bœuf;Lyon;",
		)), "\xa4", "\xbc", "\xbd", "\xbe", "\xa6", "\xb4")},
		// A Japanese shop's member export: Shift_JIS, pipe, CRLF. ソ is 0x83 0x5C
		// (its second byte is a backslash), ポ is 0x83 0x7C (its second byte is
		// the pipe delimiter!), 表 0x95 0x5C; half-width katakana are single bytes.
		{dir: "09-shift-jis-pipe", file: "input.txt", gen: mustContain(encoded(japanese.ShiftJIS, lines(crlf,
			"会員番号|氏名|フリガナ|ポイント|備考",
			"000101|山田太郎|ヤマダタロウ|1200|ソフト開発",
			"000102|佐藤花子|サトウハナコ|350|表計算ソフト",
			"000103|鈴木一郎|ｽｽﾞｷｲﾁﾛｳ|0|",
		)), "\x83\x5c", "\x83\x7c", "\x95\x5c", "\xbd\xbd\xde")},
		// Shift_JIS written by a MySQL-based shop with backslash escapes: the
		// trail byte 0x5C of ソ and 表 right before a closing quote must not be
		// read as an escape (decode first, then parse).
		{dir: "10-shift-jis-backslash-escape", file: "input.csv", gen: mustContain(encoded(japanese.ShiftJIS, lines(crlf,
			"コード,商品名,説明",
			`A01,"ソ","表"`,
			`A02,"3人掛けソファ","幅180cm \"ワイド\""`,
			`A03,"パス","C:\\データ\\ソ"`,
		)), "\"\x83\x5c\"", "\"\x95\x5c\"", "\x83\x5c\"\r\n")},
		// A Chinese school's roster: GBK, comma, CRLF.
		{dir: "11-gbk", file: "input.csv", gen: encoded(simplifiedchinese.GBK, lines(crlf,
			"学号,姓名,班级,备注",
			"2024001,王芳,三年级二班,三好学生",
			`2024002,李明,三年级一班,"数学,物理"`,
			"2024003,欧阳娜娜,三年级二班,",
		))},
		// A windows-1252 file with one row pasted in from UTF-8: "Á" is
		// 0xC3 0x81 and 0x81 is not a windows-1252 character (byte offset 29).
		{dir: "12-windows-1252-invalid-byte-reject-row", file: "input.csv", gen: windows1252WithInvalid},
		{dir: "13-windows-1252-invalid-byte-fail-file", file: "input.csv", gen: windows1252WithInvalid},
		// A UTF-8 file with two rows from a Latin-1 source: 0xE9 (é) at byte
		// offset 32 and 0xFF at byte offset 62.
		{dir: "14-utf8-invalid-bytes", file: "input.csv", gen: text(lines(lf,
			"id,name,city",
			"1,Zoë,Köln",
			"2,Andr\xe9,Nantes",
			"3,Ann,Paris",
			"4,Bob,Gen\xffve",
		))},
		// UTF-16 LE whose third row holds a name cut in the middle of an
		// emoji: a lone high surrogate 0xD83D at byte offset 46.
		{dir: "15-utf16le-lone-surrogate", file: "input.csv", gen: func() ([]byte, error) {
			return utf16Text(lines(crlf,
				"id,name",
				"1,Ann",
				"2,Bob "+loneSurrogateMarker,
				"3,Cy",
			), false), nil
		}},
		// Quoted LF line breaks; a record over 3 lines is one row; a blank line
		// inside quotes is not a blank row.
		{dir: "16-quoted-newlines-lf", file: "input.csv", gen: text(lines(lf,
			"id,name,address,note",
			"1,Zoë,\"12 Main St\nApt 4\",ok",
			"2,Li,\"Line 1\nLine 2\nLine 3\",",
			"3,Sam",
			"4,Ann,\"Para 1\n\nPara 2\",\"multi\nline note\"",
			"5,Bob,Short St,",
		))},
		// Excel on Windows: records end with CRLF, a cell's Alt+Enter is a
		// quoted LF; another tool's CRLF inside quotes stays CRLF.
		{dir: "17-quoted-newlines-crlf", file: "input.csv", gen: text(lines(crlf,
			"id,name,address,note",
			"1,Zoë,\"12 Main St\nApt 4\",excel alt-enter",
			"2,Li,\"Line 1\r\nLine 2\r\nLine 3\",crlf inside",
			",Sam,\"Flat 2\r\nHigh St\",empty key",
			"4,Ann,Plain St,",
		))},
		{dir: "18-doubled-quotes", file: "input.csv", gen: text(lines(lf,
			"id,title,quote",
			`1,"The ""Best"" Shop","She said ""hi"", then left"`,
			`2,"""Quoted at start","ends with quote"""`,
			`3,"""""","a""b"`,
			"4,\"\"\"\",\"multi \"\"line\"\"\nquote\"",
			`5,plain,"x"`,
		))},
		// MySQL SELECT ... INTO OUTFILE style: \" is a quote, \\ a backslash.
		{dir: "19-backslash-escaped-quotes", file: "input.csv", gen: text(lines(lf,
			"id,name,path,comment",
			`1,"O\"Brien","C:\\Users\\zoe","He said \"hi\""`,
			`2,Plain,"\\\\server\\share","trailing backslash \\"`,
			`3,"Comma, inside","a\\b","quote at end \""`,
			`4,Last,x,y`,
		))},
		{dir: "20-ragged-rows", file: "input.csv", gen: text(lines(lf,
			"id,name,email,phone",
			"1,Ann,ann@example.org,555-0101",
			"2,Bob,bob@example.org",
			"3,Cy,cy@example.org,555-0103,extra",
			"4,Di,,",
			`5,"Eve, the ""Great""",eve@example.org,555-0105`,
			"6,Fay,fay@example.org,555-0106,",
		))},
		{dir: "21-blank-lines", file: "input.csv", gen: text(lines(lf,
			"id,name",
			"1,Ann",
			"",
			"2,Bob",
			"",
			"",
			",Cy",
			"3,Di",
			"",
			"",
		))},
		// Excel saves formatted but empty rows as lines of delimiters.
		{dir: "22-delimiter-only-rows", file: "input.csv", gen: text(lines(crlf,
			"id,name,grade",
			"1,Ann,10",
			",,",
			"2,Bob,11",
			",,",
			",,",
		))},
		{dir: "23-trailing-delimiter", file: "input.csv", gen: text(lines(crlf,
			"id;name;city;",
			"1;Ann;Oslo;",
			"2;Bob;;",
			"3;Cy;Bergen;",
		))},
		{dir: "24-header-only", file: "input.csv", gen: text(lines(crlf, "id,name,email"))},
		{dir: "25-empty-file", file: "input.csv", gen: text("")},
		{dir: "26-bom-only", file: "input.csv", gen: text(bomUTF8)},
		// German shop export (Excel "CSV UTF-8" with a German locale): BOM,
		// semicolon, decimal commas and thousands dots, kept as strings.
		{dir: "27-semicolon-decimal-comma", file: "input.csv", gen: text(bomUTF8 + lines(crlf,
			"Artikelnummer;Bezeichnung;Preis;MwSt;Bestand",
			"00042;Kaffee „Hausmarke“ 500 g;7,99;7 %;1.250",
			"00043;Tee, grün;3,49;7 %;80",
			"00044;Espressomaschine;1.299,00;19 %;3",
			"00045;Gutschein;-5,00;0 %;",
		))},
		{dir: "28-tab-separated", file: "input.tsv", gen: text(lines(lf,
			"order_id\tcustomer\tamount\tcomment",
			"A-1\tZoë, Ltd.\t12.50\tcomma, inside unquoted",
			"A-2\tLi Wei\t0.99\t",
			"A-3\t\"Quoted\tTab\"\t5.00\tquoted field with a tab",
		))},
		// A legacy core-banking extract: pipe-separated, CRLF.
		{dir: "29-pipe-separated", file: "input.txt", gen: text(lines(crlf,
			"ACCT|NAME|BALANCE|OPENED",
			"0001234567|SMITH, JOHN|1,234.56|20240315",
			"0007654321|O'NEIL, MARY|-12.00|19991231",
			`0000000042|"PIPE | INSIDE"|0.00|20000229`,
		))},
		// A German bank statement: 3 preamble lines, the header on row 4,
		// and a closing balance line that is not a transaction.
		{dir: "30-bank-export-preamble-header-row-4", file: "input.csv", gen: text(lines(crlf,
			"Kontoauszug;Girokonto",
			"IBAN;DE89 3704 0044 0532 0130 00",
			"Zeitraum;01.03.2024 - 31.03.2024",
			"Buchungstag;Valuta;Auftraggeber/Empfänger;Verwendungszweck;Betrag;Referenz",
			"15.03.2024;15.03.2024;Stadtwerke München;Abschlag März;-45,00;REF-0001",
			"18.03.2024;18.03.2024;Schulverein e.V.;Spende „Sommerfest“;25,00;REF-0002",
			"20.03.2024;21.03.2024;Arbeitgeber GmbH;Gehalt März;2.345,67;REF-0003",
			"Endsaldo;1.234,56 EUR",
		))},
		{dir: "31-comment-lines", file: "input.csv", gen: text(lines(lf,
			"id,name,score",
			"# exported 2024-03-15",
			"1,Ann,90",
			"2,Bob,#1",
			"#,ignored",
			",Cy,70",
			`3,"# not a comment",80`,
			"# end",
		))},
		{dir: "32-no-header-column-index", file: "input.csv", gen: text(lines(crlf,
			"000123,Zoë,Smith,10",
			"000124,José,Müller,11",
			"000125,Li,Wei,",
		))},
		// Excel 2008 for Mac "CSV (Macintosh)": CR-only line endings.
		{dir: "33-cr-only-line-endings", file: "input.csv", gen: text(lines(cr,
			"id,name,city",
			"1,Ann,Paris",
			"2,Bob,Lyon",
			"3,Cy",
			"4,Di,Nice",
		))},
		// Files concatenated from several systems: CRLF, LF, CR, and no line
		// break after the last record.
		{dir: "34-mixed-line-endings", file: "input.csv", gen: text(
			"id,name" + crlf +
				"1,Ann" + lf +
				"2,Bob" + cr +
				"3,Cy" + crlf +
				"4,Di" + cr +
				",Eve" + noTerminal)},
		{dir: "35-leading-zeros", file: "input.csv", gen: text(lines(lf,
			"student_id,zip,phone,locker,score_code",
			"000123,02134,0207 946 0958,007,0.50",
			"000124,07030,+44 20 7946 0958,010,00",
			"0,00000,,0001,-0",
		))},
		{dir: "36-long-ids", file: "input.csv", gen: text(lines(lf,
			"account_id,card_number,iban,order_id",
			"1234567890123456,4111111111111111,DE89370400440532013000,12345678901234567890",
			"9007199254740993,5500000000000004,GB29NWBK60161331926819,00000000000000000001",
			"0000000000000000001,4012888888881881,NL91ABNA0417164300,1.23457E+19",
		))},
		{dir: "37-dates-as-strings", file: "input.csv", gen: text(lines(lf,
			"id,dmy,mdy,iso,de,text,serial,iso_datetime",
			"1,15/03/2024,03/15/2024,2024-03-15,15.03.2024,15-Mar-2024,45366,2024-03-15T09:30:00Z",
			"2,01/02/2024,02/01/2024,2024-02-01,01.02.2024,1-Feb-24,45323,2024-02-01 08:00",
			`3,31/12/1999,12/31/1999,1999-12-31,31.12.1999,"Dec 31, 1999",36525,1999-12-31T23:59:59+01:00`,
		))},
		{dir: "38-typed-date-ambiguous-rejected", file: "input.csv", gen: text(lines(lf,
			"Student ID,Name,Birth Date",
			"1,Ann,2011-04-02",
			"2,Bob,03/04/2024",
			"3,Cy,",
			"4,Di,2024-02-30",
			"5,Eve,2012-02-29",
		))},
		{dir: "39-typed-integer-decimal-boolean", file: "input.csv", gen: text(lines(lf,
			"id,name,qty,price,active",
			"007,Ann,007,1234.50,yes",
			"2,Bob,-3,.5,N",
			"3,Cy,+42,1e3,1",
			`4,Di,"1,000",0.10,TRUE`,
			"5,Eve,0,-0.50,maybe",
			"+7,Ann Updated,8,99.90,false",
		))},
		{dir: "40-duplicate-keys-last-wins", file: "input.csv", gen: text(lines(lf,
			"id,name,status",
			"1,Ann,draft",
			"2,Bob,active",
			"1,Ann,review",
			"3,Cy,active",
			"1,Ann,final",
		))},
		// "José" typed as NFC (é U+00E9) on row 2 and as NFD (e + U+0301) on
		// row 4: one key.
		{dir: "41-unicode-nfc-nfd-keys", file: "input.csv", gen: mustContain(text(lines(lf,
			"name,display_name,grade",
			"Jos\u00e9,Jos\u00e9,10",
			"Zo\u00eb,Zo\u00eb,11",
			"Jose\u0301,Jose\u0301,12",
		)), "Jos\xc3\xa9,", "Jose\xcc\x81,")},
		{dir: "42-whitespace-kept", file: "input.csv", gen: text(lines(lf,
			"id,name,note",
			"1, Ann ,  two leading spaces",
			"2,\"  Bob\",\"tab\there\"",
			"3,Cy ,",
			"4,   ,trailing spaces   ",
		))},
		// Shopify-style: every field quoted, empty ones as "".
		{dir: "43-all-fields-quoted", file: "input.csv", gen: text(lines(lf,
			`"Name","Email","Financial Status","Total","Discount Code","Notes"`,
			`"#1001","zoe@example.org","paid","29.90","","Leave at door"`,
			`"#1002","li@example.org","refunded","0.00","SPRING10",""`,
			`"#1003","sam@example.org","pending","1049.00","",""`,
		))},
		{dir: "44-bare-quote-rejected", file: "input.csv", gen: text(lines(lf,
			"id,name,height",
			"1,Ann,170",
			`2,Tom "Tommy" Smith,180`,
			"3,Cy,165",
		))},
		{dir: "45-single-quote-character", file: "input.csv", gen: text(lines(lf,
			"id,name,city",
			"1,'O''Brien, Pat',Dublin",
			`2,"Double ""quotes"" stay",Cork`,
			"3,'Multi\nline',Galway",
		))},
		// The export renamed "E-mail" to "Email"; the profile still maps "E-mail".
		{dir: "46-missing-mapped-column", file: "input.csv", gen: text(lines(lf,
			"Student ID,First Name,Email",
			"1,Ann,ann@example.org",
		))},
		{dir: "47-empty-key-and-required", file: "input.csv", gen: text(lines(lf,
			"Student ID,Name,Email",
			"1,Ann,ann@example.org",
			",Bob,bob@example.org",
			"3,,cy@example.org",
			"4,Di,",
		))},
		{dir: "48-composite-key", file: "input.csv", gen: text(lines(lf,
			"School,Student ID,Name",
			"North,001,Ann",
			"South,001,Bob",
			"North,002,Cy",
			"North,001,Ann B.",
		))},
		// A student information system's full export: 14 columns, 3 mapped,
		// in another order than the header's.
		{dir: "49-wide-export-few-mapped", file: "input.csv", gen: text(lines(crlf,
			"District,School,Student Number,First,Middle,Last,Grade,DOB,Gender,Homeroom,Guardian,Guardian Phone,Student Email,Notes",
			`D1,North,000123,Zoë,,Smith,10,4/2/2011,F,B-12,"Smith, Jane",555-0101,zoe@example.org,"allergic to ""nuts"""`,
			"D1,North,000124,José,M,Müller,10,11/30/2010,M,B-12,,,jose@example.org,",
			"D1,South,000125,Ann,,Lee,11,1/15/2009,F,C-01,Ben Lee,555-0103,,",
		))},
		// A fixed-width system's export padded with a NUL byte.
		{dir: "50-nul-byte", file: "input.csv", gen: text(lines(lf,
			"id,name",
			"1,Ann",
			"2,B\x00b",
		))},
	}
}

// windows1252WithInvalid is a windows-1252 file (ë 0xEB, ö 0xF6) whose row 3
// holds "Ángel" as UTF-8 (0xC3 0x81): 0x81 is at byte offset 29.
func windows1252WithInvalid() ([]byte, error) {
	head, err := encoded(charmap.Windows1252, lines(crlf, "ID;Name;City", "1;Zoë;Köln"))()
	if err != nil {
		return nil, err
	}
	b := append(head, []byte("2;\xc3\x81ngel;Sevilla"+crlf+"3;Ann;Paris"+crlf)...)
	if len(head) != 26 || b[29] != 0x81 {
		return nil, errf("windows-1252 case: 0x81 is not at byte offset 29")
	}
	return b, nil
}
