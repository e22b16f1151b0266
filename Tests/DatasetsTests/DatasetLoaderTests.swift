import Datasets
import Foundation
import Testing

@Suite("Loading by extension, shapes, labels, summaries")
struct DatasetLoaderTests {
    @Test func loadsNPYKeepingPrecisionAndSelectsColumnsByIndex() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("x.npy")
        try NPYWriter.write(FeatureMatrix(rows: 2, columns: 3, float32: [1, 2, 3, 4, 5, 6]), to: path)
        let all = try DatasetLoader.load(path: path)
        #expect(all.features.scalarType == .float32 && all.features.columns == 3 && all.labels == nil)
        let part = try DatasetLoader.load(path: path, csv: CSVOptions(labelColumn: "2"), rows: 1..<2)
        #expect(part.features.doubles() == [4, 5])
        #expect(part.labels == ["6"])
        let error = expectDatasetError { _ = try DatasetLoader.load(path: path, csv: CSVOptions(columns: ["x0"])) }
        #expect(error?.description.contains(".npy files have no column names") == true)
        let shape = try DatasetLoader.shape(path: path, csv: CSVOptions(columns: ["0", "2"]))
        #expect(shape.rows == 2 && shape.columns == 2)
    }

    @Test func shapeOfTextCountsRowsWithoutParsingThem() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", text: "a,b,label\n1,2,x\n\n3,4,y\n5,6,z")
        let shape = try DatasetLoader.shape(path: path, csv: CSVOptions(labelColumn: "label"))
        #expect(shape.rows == 3 && shape.columns == 2)
    }

    @Test func unsupportedExtension() throws {
        let error = expectDatasetError { _ = try DatasetLoader.load(path: "data.parquet") }
        #expect(error?.description == "data.parquet: unsupported file type '.parquet'; expected .npy, .csv, .tsv or .txt")
    }

    @Test func labelsFromTextWithAndWithoutHeader() throws {
        let folder = try TemporaryFolder()
        let numeric = try folder.write("a.csv", text: "label\n0\n2\n1\n")
        #expect(try DatasetLoader.loadLabels(path: numeric) == ["0", "2", "1"])
        let names = try folder.write("b.txt", text: "setosa\nversicolor\n\n\"virginica, maybe\"\n")
        #expect(try DatasetLoader.loadLabels(path: names) == ["setosa", "versicolor", "virginica, maybe"])
        let withHeader = try DatasetLoader.loadLabels(path: names, header: .present)
        #expect(withHeader == ["versicolor", "virginica, maybe"])
        let wide = try folder.write("c.csv", text: "1,2\n")
        let error = expectDatasetError { _ = try DatasetLoader.loadLabels(path: wide) }
        #expect(error?.description == "\(wide): line 1: expected one label per line, found 2 cells")
    }

    @Test func summaryOfNPYMatchesDirectComputation() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("x.npy")
        let (x, _) = SyntheticMixture.generate(samples: 3000, features: 3, components: 2, seed: 3)
        try NPYWriter.write(x, to: path)
        let result = try DatasetInspector.summarize(path: path)
        #expect(result.rows == 3000 && result.columns == 3 && result.scalarType == .float64 && result.columnNames == nil)
        for j in 0..<3 {
            let column = (0..<3000).map { x[row: $0, column: j] }
            let mean = column.reduce(0, +) / 3000
            let std = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3000).squareRoot()
            let summary = result.summaries[j]
            #expect(summary.index == j && summary.count == 3000 && summary.nanCount == 0)
            #expect(abs(summary.mean - mean) < 1e-9 * max(1, abs(mean)))
            #expect(abs(summary.standardDeviation - std) < 1e-9 * std)
            #expect(summary.minimum == column.min() && summary.maximum == column.max())
        }
    }

    @Test func summaryIsStableForALargeOffset() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("x.npy")
        // Naive sum-of-squares loses every digit here; Welford keeps them.
        let values = (0..<10_000).map { 1e9 + Double($0 % 2) }
        try NPYWriter.writeMatrix(values, rows: values.count, columns: 1, to: path)
        let summary = try DatasetInspector.summarize(path: path).summaries[0]
        #expect(abs(summary.mean - (1e9 + 0.5)) < 1e-6)
        #expect(abs(summary.standardDeviation - 0.5) < 1e-6)
    }

    @Test func summaryOfTextCountsNonFiniteValuesApart() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", text: "a,b,name\n1,nan,p\n3,inf,q\n5,2,r\n")
        let result = try DatasetInspector.summarize(path: path, csv: CSVOptions(labelColumn: "name"))
        #expect(result.rows == 3 && result.columns == 2 && result.scalarType == nil)
        #expect(result.columnNames == ["a", "b"])
        let a = result.summaries[0], b = result.summaries[1]
        #expect(a.mean == 3 && a.minimum == 1 && a.maximum == 5 && a.count == 3)
        #expect(abs(a.standardDeviation - (8.0 / 3).squareRoot()) < 1e-12)
        #expect(b.nanCount == 1 && b.infiniteCount == 1 && b.count == 1 && b.mean == 2 && b.standardDeviation == 0)
    }
}
