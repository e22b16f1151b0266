import Datasets
import Foundation
import Testing

/// `--report`: the page a fit writes, read as text (scripts/check-reports.sh lays it out in Chromium).
@Suite("Reports (CLI)")
struct ReportCLITests {
    @Test("the principal plane is of the standardised columns, charts scale and clip, tables name the columns, the path is printed")
    func gmmFitReport() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = scratch.path("x.csv")
        let generated = try EmfleetBinary.run(["data", "generate", "--samples", "3000", "--features", "3", "--components", "3", "--seed", "8", "--out", data])
        try #require(generated.status == 0, "\(generated.stderr)")
        // One column on a scale 1000 times the others'.
        var table = try CSVReader.read(path: data)
        var values = table.features.doubles()
        for row in 0..<table.features.rows { values[row * 3] *= 1000 }
        table.features = FeatureMatrix(rows: table.features.rows, columns: 3, values: values)
        try CSVWriter.write(table.features, columnNames: ["big", "b", "c"], to: data)
        let report = scratch.path("report")
        let fit = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "3", "--seed", "1", "--quiet",
                                         "--out", scratch.path("m.json"), "--report", report])
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(fit.stdout.contains("report written to \(report)/index.html"), "\(fit.stdout)")
        let page = try String(contentsOfFile: report + "/index.html", encoding: .utf8)
        let share = page.range(of: #"PC1 of the standardised columns \((\d+)% of their variance\)"#, options: .regularExpression).map { String(page[$0]) }
        let percent = share.flatMap { Int($0.split(separator: "(").last!.prefix { $0.isNumber }) }
        // Unstandardised, the big column would be all of PC1 (100%).
        #expect(percent != nil && percent! < 90, "\(String(describing: share))")
        #expect(page.contains("<th>mean big</th><th>mean b</th><th>mean c</th>"))
        #expect(!page.contains("width=\"900\"") && page.components(separatedBy: "width=\"100%\" viewBox=\"0 0 900 420\"").count - 1 == 2)
        // Every point and ellipse of the scatter sits inside the group clipped to the plot.
        let scatter = try #require(page.range(of: "<svg id=\"projection\"").map { String(page[$0.lowerBound...]) })
        let clipped = try #require(scatter.range(of: "<g class=\"plot\" clip-path=\"url(#projection-plot)\">"))
        let before = scatter[..<clipped.lowerBound]
        #expect(!before.contains("<ellipse") && !before.contains("class=\"sample"))
        #expect(scatter.contains("<clipPath id=\"projection-plot\">"))
    }
}
