# Reads `go test -bench` output and prints every rows/s figure as a ratio
# against PostgreSQL's own COPY measured in the same run.
/rows\/s/ {
	name = $1
	sub(/-[0-9]+$/, "", name)
	for (i = 1; i < NF; i++) {
		if ($(i + 1) == "rows/s") rates[name] = $i
		if ($(i + 1) == "peak-rss-MiB") rss[name] = $i
		if ($(i + 1) == "peak-heap-MiB") heap[name] = $i
	}
}
END {
	copy = rates["BenchmarkDelivery/copy"]
	apply = rates["BenchmarkDelivery/stage+apply"]
	transform = rates["BenchmarkTransform"]
	if (copy == "" || apply == "" || transform == "") {
		print "bench: a benchmark did not report rows/s" > "/dev/stderr"
		exit 1
	}
	printf "\n%-46s %12s %10s\n", "figure", "rows/s", "x COPY"
	printf "%-46s %12.0f %10.2f\n", "PostgreSQL COPY (baseline)", copy, 1
	printf "%-46s %12.0f %10.2f\n", "delivery: stage + apply (1 worker)", apply, apply / copy
	printf "%-46s %12.0f %10.2f\n", "transform: 12 fields, 4 computed (1 core)", transform, transform / copy
	printf "\ntransform per core / delivery apply rate: %.2f (the design wants at least 2)\n", transform / apply
	copyto = rates["BenchmarkExport/copy-to"]
	if (copyto != "") {
		printf "\n%-46s %12s %10s\n", "export figure", "rows/s", "x COPY TO"
		printf "%-46s %12.0f %10.2f\n", "PostgreSQL COPY (SELECT ...) TO STDOUT", copyto, 1
		printf "%-46s %12.0f %10.2f\n", "export: CSV, 4 readers, transform, delivery", rates["BenchmarkExport/csv"], rates["BenchmarkExport/csv"] / copyto
		printf "%-46s %12.0f %10.2f\n", "export: XLSX, 4 readers, transform, delivery", rates["BenchmarkExport/xlsx"], rates["BenchmarkExport/xlsx"] / copyto
	}
	if (rss["BenchmarkExportMemory/csv"] != "") {
		printf "\n%-46s %12s %12s\n", "export memory (one process, NATS embedded)", "peak RSS", "peak heap"
		printf "%-46s %9.0f MiB %8.0f MiB\n", "CSV, 5 000 000 rows", rss["BenchmarkExportMemory/csv"], heap["BenchmarkExportMemory/csv"]
		printf "%-46s %9.0f MiB %8.0f MiB\n", "XLSX, 1 000 000 rows (a sheet's limit is 1 048 576)", rss["BenchmarkExportMemory/xlsx"], heap["BenchmarkExportMemory/xlsx"]
	}
}
