import ArgumentParser
import Datasets
import Foundation

extension ScalarType: ExpressibleByArgument {}
extension CSVOptions.Header: ExpressibleByArgument {}

/// Runs `body`, turning a runtime error into one `emfleet: error: …` line on standard
/// error and exit status 1 (no stack trace); `ExitCode` and `CleanExit` pass through.
///
/// A `ValidationError` thrown here is a runtime failure too: the command line parsed and
/// validated before `run()` began, so what fails now is about the files or the data, and
/// a usage text (exit 64) would send the user to the wrong place.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        try report(error)
    }
}

/// The `async` form of ``reportingErrors(_:)``.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch {
        try report(error)
    }
}

/// Rethrows ArgumentParser's exits; prints anything else as one line and throws `ExitCode(1)`.
private func report(_ error: any Error) throws -> Never {
    if error is ExitCode || error is CleanExit { throw error }
    let text: String
    if let error = error as? ValidationError {
        text = error.message
    } else if let error = error as? DatasetError {
        text = error.description
    } else if let error = error as? CocoaError {
        // Foundation's messages do not say which file; its error knows.
        let path = error.filePath ?? error.url?.path
        text = path.map { "\($0): \(error.localizedDescription)" } ?? error.localizedDescription
    } else {
        text = String(describing: error)
    }
    let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
    FileHandle.standardError.write(Data("emfleet: error: \(line)\n".utf8))
    throw ExitCode(1)
}

/// Where and how to read a data file: column selection, label column, and text-file layout.
///
/// Shared by every command that reads features, through `@OptionGroup`.
struct DataFileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Feature columns, comma-separated, by header name or 0-based index, or ranges of either such as 2...14 or alcohol...proline (default: all but the label column).", valueName: "a,b,..."))
    var columns: String?

    @Option(help: ArgumentHelp("Columns never used as features (an ID, a text column), named as in --columns, ranges too.", valueName: "a,b,..."))
    var excludeColumns: String?

    @Option(help: ArgumentHelp("The label column, by header name or 0-based index; never used as a feature.", valueName: "column"))
    var labelColumn: String?

    @Option(help: ArgumentHelp("Text files: the cell delimiter, one character or 'tab' (default: a comma if the first line has one, else whitespace).", valueName: "char"))
    var delimiter: String?

    @Option(help: "Text files: whether the first line is a header (auto: if any cell is not a number).")
    var header: CSVOptions.Header = .auto

    @Option(help: ArgumentHelp(
        "Missing feature values (empty cells, NA, NaN, nan, null; NaN in .npy): error names the first one; drop-rows leaves out "
            + "the rows that have one; mean fills each with its column's mean over the training rows (a model remembers those means "
            + "and applying it fills gaps with them).",
        valueName: "error|drop-rows|mean"))
    var missing: MissingPolicy = .error

    func validate() throws {
        if let delimiter, delimiterCharacter(delimiter) == nil {
            throw ValidationError("--delimiter must be one character or 'tab', not '\(delimiter)'")
        }
        if let columns, selectedColumns(columns).isEmpty {
            throw ValidationError("--columns names no column")
        }
        if let excludeColumns, selectedColumns(excludeColumns).isEmpty {
            throw ValidationError("--exclude-columns names no column")
        }
    }

    /// The reader options these flags describe.
    var csvOptions: CSVOptions {
        CSVOptions(
            delimiter: delimiter.flatMap(delimiterCharacter),
            header: header,
            columns: columns.map(selectedColumns),
            excludedColumns: excludeColumns.map(selectedColumns),
            labelColumn: labelColumn,
            missing: missing
        )
    }

    private func selectedColumns(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private func delimiterCharacter(_ text: String) -> Character? {
        switch text {
        case "tab", "\\t": return "\t"
        case "space": return " "
        default: return text.count == 1 ? text.first : nil
        }
    }
}

/// `emfleet data`: make, look at and convert data files.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Generate, inspect and convert data files (.npy, .csv, .tsv, .txt).",
        subcommands: [Generate.self, Inspect.self, Convert.self]
    )
}

extension DataCommand {
    /// `emfleet data generate`: a seeded synthetic Gaussian-mixture dataset.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a seeded synthetic Gaussian-mixture dataset (the same bytes for the same seed).",
            discussion: """
                Means are drawn from N(0, 6²) per coordinate, weights from Dirichlet(2), and each \
                component gets a random full covariance. The output format follows the file's \
                extension: .npy, or .csv/.tsv/.txt with a header x0,x1,...
                """
        )

        @Option(help: "Number of rows.")
        var samples: Int

        @Option(help: "Number of features (columns).")
        var features: Int?

        @Option(help: "Number of mixture components.")
        var components: Int?

        @Option(help: "A fixed recipe instead of a random mixture: 'seed-example' (the seed document's 2-D points with four offsets).")
        var preset: String?

        @Option(help: "Random seed.")
        var seed: UInt64 = 0

        @Option(help: ArgumentHelp("Output file: .npy, .csv, .tsv or .txt.", valueName: "file"))
        var out: String

        @Option(help: ArgumentHelp("Also write each row's component: .npy (int64) or a one-column text file.", valueName: "file"))
        var labels: String?

        @Option(help: "Precision of the features.")
        var dtype: ScalarType = .float64

        func validate() throws {
            guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
            if let preset {
                guard preset == "seed-example" else { throw ValidationError("--preset knows 'seed-example', not '\(preset)'") }
                guard features == nil, components == nil else { throw ValidationError("--preset fixes the features and components; leave out --features and --components") }
                return
            }
            guard let features, features >= 1 else { throw ValidationError("--features must be at least 1") }
            guard let components, components >= 1 else { throw ValidationError("--components must be at least 1") }
            let (product, overflow) = samples.multipliedReportingOverflow(by: features)
            guard !overflow, product <= 1 << 34 else {
                throw ValidationError("--samples × --features is too large to generate in memory")
            }
        }

        func run() throws {
            try reportingErrors {
                let outFormat = try DataFileFormat(path: out)
                let labelsFormat = try labels.map { try DataFileFormat(path: $0) }
                try OutputLocation.checkFile(out, option: "--out")
                if let labels { try OutputLocation.checkFile(labels, option: "--labels") }
                let features = self.features ?? 2, components = self.components ?? 4
                let (generated, componentLabels) = preset != nil
                    ? SyntheticMixture.seedExample(samples: samples, seed: seed)
                    : SyntheticMixture.generate(samples: samples, features: features, components: components, seed: seed, scalarType: dtype)
                let matrix = preset != nil ? generated.converted(to: dtype) : generated
                switch outFormat {
                case .npy: try NPYWriter.write(matrix, to: out)
                case .text: try CSVWriter.write(matrix, columnNames: (0..<features).map { "x\($0)" }, to: out)
                }
                if let labels, let labelsFormat {
                    switch labelsFormat {
                    case .npy: try NPYWriter.writeIntegers(componentLabels, to: labels)
                    case .text: try CSVWriter.writeColumns(header: ["label"], rows: componentLabels.map { [String($0)] }, to: labels)
                    }
                }
                let labelsNote = labels.map { ", labels to \($0)" } ?? ""
                let recipe = preset.map { "the \($0) recipe" } ?? "\(components) components"
                print("wrote \(samples) rows × \(features) features (\(recipe), seed \(seed), \(dtype.rawValue)) to \(out)\(labelsNote)")
            }
        }
    }

    /// `emfleet data inspect`: shape, precision and per-column statistics.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a data file's shape, precision and every column: numeric ones with mean, std, min, max and missing cells, text ones with their values."
        )

        @Argument(help: ArgumentHelp("The data file: .npy, .csv, .tsv or .txt.", valueName: "file"))
        var file: String

        @OptionGroup var data: DataFileOptions

        @OptionGroup var memory: MemoryAdviceOptions

        func validate() throws { try memory.validate() }

        func run() throws {
            try reportingErrors {
                defer { memory.advise(file: file, csv: data.csvOptions) }
                if try DataFileFormat(path: file) == .text { return try inspectTable() }
                let result = try DatasetInspector.summarize(path: file, csv: data.csvOptions)
                print("file:    \(file)")
                print("shape:   \(result.rows) rows × \(result.columns) columns")
                print("dtype:   \(result.scalarType?.rawValue ?? "text (read as float64)")")
                print("")
                let named = result.columnNames != nil
                var table: [[String]] = [(named ? ["column", "name"] : ["column"]) + ["mean", "std", "min", "max", "NaN", "Inf"]]
                for summary in result.summaries {
                    table.append(
                        (named ? [String(summary.index), summary.name ?? ""] : [String(summary.index)]) + [
                            format(summary.mean), format(summary.standardDeviation),
                            format(summary.minimum), format(summary.maximum),
                            String(summary.nanCount), String(summary.infiniteCount),
                        ]
                    )
                }
                for line in alignedTable(table, leftAligned: named ? [1] : []) { print(line) }
            }
        }

        private func format(_ value: Double) -> String {
            value.isNaN ? "-" : String(format: "%.6g", value)
        }

        /// A text table as it comes: numeric columns with their statistics, text columns with
        /// their values, missing cells counted, and columns that look like row identifiers named.
        private func inspectTable() throws {
            let csv = data.csvOptions
            let (rows, every) = try TableInspector.summarize(path: file, csv: csv)
            // With a selection, its columns (and the label's); else every column of the file.
            var shown = every
            if csv.columns != nil || csv.excludedColumns != nil {
                var wanted = Set(try DatasetLoader.featureColumns(path: file, csv: csv))
                for name in [csv.labelColumn, csv.weightColumn].compactMap({ $0 }) {
                    if let index = every.firstIndex(where: { $0.name == name }) ?? Int(name) { wanted.insert(index) }
                }
                shown = every.filter { wanted.contains($0.index) }
            }
            let numeric = shown.filter { $0.kind == .numeric }, text = shown.filter { $0.kind == .text }
            print("file:    \(file)")
            print("shape:   \(rows) rows × \(shown.count) columns (\(numeric.count) numeric, \(text.count) text)")
            print("dtype:   text (numbers read as float64)")
            let named = every.first?.name != nil
            let lead: (TableColumnSummary) -> [String] = { named ? [String($0.index), $0.name ?? ""] : [String($0.index)] }
            let leadTitles = named ? ["column", "name"] : ["column"]
            if !numeric.isEmpty {
                print("")
                var table: [[String]] = [leadTitles + ["mean", "std", "min", "max", "missing", "Inf"]]
                for column in numeric {
                    let numbers = column.numbers!
                    table.append(lead(column) + [format(numbers.mean), format(numbers.standardDeviation), format(numbers.minimum),
                                                 format(numbers.maximum), String(column.missing), String(numbers.infiniteCount)])
                }
                for line in alignedTable(table, leftAligned: named ? [1] : []) { print(line) }
            }
            if !text.isEmpty {
                print("")
                var table: [[String]] = [leadTitles + ["missing", "distinct", "values (count)"]]
                for column in text {
                    let listed = column.values.prefix(6).map { "\($0.value) (\($0.count))" }.joined(separator: ", ")
                    let more = column.distinctCount > 6 || !column.distinctCountIsExact ? ", …" : ""
                    table.append(lead(column) + [String(column.missing), "\(column.distinctCount)\(column.distinctCountIsExact ? "" : "+")", listed + more])
                }
                for line in alignedTable(table, leftAligned: Set(named ? [1, 4] : [3])) { print(line) }
            }
            let identifiers = shown.filter { $0.looksLikeIdentifier && $0.name != csv.labelColumn }
            if !identifiers.isEmpty { print("") }
            for column in identifiers {
                let what = column.kind == .text ? "a different text on every row" : "a different integer on every row, in order"
                let called = column.name.map { "column \(column.index) (\"\($0)\")" } ?? "column \(column.index)"
                print("note: \(called) looks like an identifier (\(what)); leave it out of the features with --exclude-columns \(column.name ?? String(column.index))")
            }
            let missing = shown.filter { $0.missing > 0 }
            if !missing.isEmpty {
                let total = missing.reduce(0) { $0 + $1.missing }
                print("")
                print("note: \(total) missing cell\(total == 1 ? "" : "s") (empty, NA, NaN, null) in \(missing.count) column\(missing.count == 1 ? "" : "s")")
            }
        }
    }

    /// `emfleet data convert`: between CSV/text and `.npy`, with column selection.
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a data file between .npy and .csv/.tsv/.txt, optionally selecting columns and splitting off labels."
        )

        @Argument(help: ArgumentHelp("The input file: .npy, .csv, .tsv or .txt.", valueName: "in"))
        var input: String

        @Argument(help: ArgumentHelp("The output file: .npy, .csv, .tsv or .txt.", valueName: "out"))
        var output: String

        @OptionGroup var data: DataFileOptions

        @Option(help: ArgumentHelp("Write the label column here: .npy (integer labels only) or a one-column text file.", valueName: "file"))
        var labelsOut: String?

        @Option(help: "Precision of the output features (default: the input's; text input gives float64).")
        var dtype: ScalarType?

        @Flag(help: "Standardise every feature column: subtract its mean, divide by its standard deviation (1 for a constant column).")
        var standardise = false

        func validate() throws {
            if labelsOut != nil, data.labelColumn == nil {
                throw ValidationError("--labels-out needs --label-column to say which column holds the labels")
            }
        }

        /// Columns with mean 0 and (population) standard deviation 1, in float64.
        static func standardised(_ matrix: FeatureMatrix) -> FeatureMatrix {
            var values = matrix.doubles()
            let n = matrix.rows, d = matrix.columns
            for j in 0..<d {
                var mean = 0.0
                for r in 0..<n { mean += values[r * d + j] }
                mean /= Double(max(n, 1))
                var variance = 0.0
                for r in 0..<n { variance += (values[r * d + j] - mean) * (values[r * d + j] - mean) }
                let deviation = (variance / Double(max(n, 1))).squareRoot()
                let scale = deviation > 0 ? 1 / deviation : 1
                for r in 0..<n { values[r * d + j] = (values[r * d + j] - mean) * scale }
            }
            return FeatureMatrix(rows: n, columns: d, values: values)
        }

        func run() throws {
            try reportingErrors {
                let outFormat = try DataFileFormat(path: output)
                let labelsFormat = try labelsOut.map { try DataFileFormat(path: $0) }
                try OutputLocation.checkFile(output, option: "the output")
                if let labelsOut { try OutputLocation.checkFile(labelsOut, option: "--labels-out") }
                // Standardising needs finite values; a plain conversion carries NaN through unless --missing says otherwise.
                let loaded = try DatasetLoader.load(path: input, csv: data.csvOptions, finiteOnly: standardise || data.missing != .error)
                if !loaded.droppedRows.isEmpty {
                    FileHandle.standardError.write(Data("emfleet: --missing drop-rows: left out \(loaded.droppedRows.count) rows of \(input), which have missing values\n".utf8))
                }
                if loaded.imputedCells > 0 {
                    FileHandle.standardError.write(Data("emfleet: --missing mean: filled \(loaded.imputedCells) missing cells of \(input) with its column means\n".utf8))
                }
                var features = loaded.features
                if standardise { features = Self.standardised(features) }
                let matrix = dtype.map { features.converted(to: $0) } ?? features
                let labels = loaded.labels ?? []
                var integerLabels: [Int] = []
                if let labelsOut, case .npy = labelsFormat {
                    integerLabels = try labels.enumerated().map { row, text in
                        guard let value = Int(text) else {
                            throw DatasetError(
                                file: labelsOut, row: row,
                                message: "label \"\(text)\" is not an integer; .npy labels must be integers, so write them to a .csv file"
                            )
                        }
                        return value
                    }
                }
                switch outFormat {
                case .npy: try NPYWriter.write(matrix, to: output)
                case .text:
                    let names = loaded.columnNames ?? (0..<matrix.columns).map { "x\($0)" }
                    try CSVWriter.write(matrix, columnNames: names, to: output)
                }
                if let labelsOut, let labelsFormat {
                    switch labelsFormat {
                    case .npy: try NPYWriter.writeIntegers(integerLabels, to: labelsOut)
                    case .text:
                        // No header line: with text labels a header cannot be told from a label.
                        try CSVWriter.writeColumns(header: nil, rows: labels.map { [$0] }, to: labelsOut)
                    }
                }
                let labelsNote = labelsOut.map { ", labels to \($0)" } ?? ""
                print("converted \(matrix.rows) rows × \(matrix.columns) columns (\(matrix.scalarType.rawValue)\(standardise ? ", standardised" : "")) from \(input) to \(output)\(labelsNote)")
            }
        }
    }
}

/// Pads the cells of `rows` into columns two spaces apart; numbers right-aligned, the
/// columns in `leftAligned` left-aligned.
func alignedTable(_ rows: [[String]], leftAligned: Set<Int> = []) -> [String] {
    guard let width = rows.map(\.count).max() else { return [] }
    let widths = (0..<width).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { column, cell in
            let padding = String(repeating: " ", count: widths[column] - cell.count)
            return leftAligned.contains(column) ? cell + padding : padding + cell
        }
        .joined(separator: "  ")
        .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }
}
