import Foundation

/// A self-contained HTML report: inline SVG charts and tables, no script and no network access.
///
/// Elements carry classes that tests (and people) can count: each line-chart point is a
/// `<circle class="point SERIES">`, each scatter point a `<circle class="sample component-K">`,
/// each ellipse an `<ellipse class="ellipse component-K">`.
public struct Report {
    /// The page title.
    public var title: String
    private var sections: [String] = []

    /// Starts an empty report.
    public init(title: String) { self.title = title }

    /// A series of (x, y) points drawn as a line with a dot per point.
    public struct Series {
        public var name: String
        /// The CSS class of its points (for counting).
        public var pointClass: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, pointClass: String, points: [(x: Double, y: Double)]) {
            self.name = name; self.pointClass = pointClass; self.points = points
        }
    }

    /// An ellipse in data coordinates.
    public struct Ellipse {
        public var centre: (x: Double, y: Double)
        public var radii: (Double, Double)
        /// Rotation of the first radius, radians.
        public var angle: Double
        public var group: Int
        public init(centre: (x: Double, y: Double), radii: (Double, Double), angle: Double, group: Int) {
            self.centre = centre; self.radii = radii; self.angle = angle; self.group = group
        }
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    static func colour(_ index: Int) -> String { palette[((index % palette.count) + palette.count) % palette.count] }

    /// A paragraph of text.
    public mutating func addText(_ text: String) { sections.append("<p>\(escape(text))</p>") }

    /// A line chart of one or more series.
    public mutating func addLineChart(id: String, title: String, xLabel: String, yLabel: String, series: [Series]) {
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        guard !all.isEmpty else { return }
        let frame = Frame(xs: all.map(\.x), ys: all.map(\.y))
        var svg = frame.open(id: id, xLabel: xLabel, yLabel: yLabel)
        for (index, s) in series.enumerated() {
            let points = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            let colour = Self.colour(index)
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\""
                + points.map { "\(frame.x($0.x)),\(frame.y($0.y))" }.joined(separator: " ") + "\"/>"
            for p in points {
                svg += "<circle class=\"point \(s.pointClass)\" cx=\"\(frame.x(p.x))\" cy=\"\(frame.y(p.y))\" r=\"3\" fill=\"\(colour)\">"
                    + "<title>\(escape(s.name)): \(format(p.x)), \(format(p.y))</title></circle>"
            }
        }
        svg += legend(series.map(\.name))
        svg += "</svg>"
        sections.append("<h2>\(escape(title))</h2>\n\(svg)")
    }

    /// A scatter of 2-D points coloured by group, with ellipses.
    public mutating func addScatter(id: String, title: String, xLabel: String, yLabel: String,
                                    points: [(x: Double, y: Double, group: Int)], ellipses: [Ellipse], groupName: String) {
        guard !points.isEmpty else { return }
        var xs = points.map(\.x), ys = points.map(\.y)
        for e in ellipses {
            let r = max(e.radii.0, e.radii.1)
            xs += [e.centre.x - r, e.centre.x + r]
            ys += [e.centre.y - r, e.centre.y + r]
        }
        let frame = Frame(xs: xs, ys: ys)
        var svg = frame.open(id: id, xLabel: xLabel, yLabel: yLabel)
        // Points and ellipses stay inside the plot: an ellipse wider than the data is cut at its edge.
        svg += "<g class=\"plot\" clip-path=\"url(#\(id)-plot)\">"
        for p in points {
            svg += "<circle class=\"sample component-\(p.group)\" cx=\"\(frame.x(p.x))\" cy=\"\(frame.y(p.y))\" r=\"1.6\" fill=\"\(Self.colour(p.group))\" fill-opacity=\"0.5\"/>"
        }
        for e in ellipses {
            let rx = e.radii.0 * frame.xScale, ry = e.radii.1 * frame.yScale
            // SVG's y axis points down: the angle turns the other way.
            let degrees = -e.angle * 180 / .pi
            svg += "<ellipse class=\"ellipse component-\(e.group)\" cx=\"\(frame.x(e.centre.x))\" cy=\"\(frame.y(e.centre.y))\" rx=\"\(format(rx))\" ry=\"\(format(ry))\" "
                + "transform=\"rotate(\(format(degrees)) \(frame.x(e.centre.x)) \(frame.y(e.centre.y)))\" fill=\"none\" stroke=\"\(Self.colour(e.group))\" stroke-width=\"2\"/>"
        }
        svg += "</g>"
        let groups = Set(points.map(\.group)).union(ellipses.map(\.group)).sorted()
        svg += legend(groups.map { "\(groupName) \($0)" }, colours: groups.map(Self.colour))
        svg += "</svg>"
        sections.append("<h2>\(escape(title))</h2>\n\(svg)")
    }

    /// A bar chart of labelled values from zero, each bar a `<rect class="bar">`, with an optional
    /// dashed horizontal line at `threshold` (`<line class="threshold">`).
    public mutating func addBarChart(id: String, title: String, xLabel: String, yLabel: String, bars: [(label: String, value: Double)],
                                     threshold: Double? = nil) {
        let values = bars.map(\.value).filter(\.isFinite)
        guard !values.isEmpty else { return }
        let top = max(values.max() ?? 1, threshold ?? 0)
        // Bars stand at 0, 1, …, n − 1, so the whole-number ticks name them.
        let frame = Frame(xs: [-0.5, Double(bars.count) - 0.5], ys: [0, top > 0 ? top : 1], wholeX: true)
        var svg = frame.open(id: id, xLabel: xLabel, yLabel: yLabel)
        let width = min(0.6 * frame.xScale, 60)
        for (index, bar) in bars.enumerated() where bar.value.isFinite {
            let centre = Double(index)
            let height = max(0, bar.value) * frame.yScale
            svg += "<rect class=\"bar\" x=\"\(format(Double(frame.left) + (centre - frame.xMin) * frame.xScale - width / 2))\" "
                + "y=\"\(frame.y(max(0, bar.value)))\" width=\"\(format(width))\" height=\"\(format(height))\" fill=\"\(Self.colour(index))\">"
                + "<title>\(escape(bar.label)): \(format(bar.value))</title></rect>"
        }
        if let threshold {
            svg += "<line class=\"threshold\" x1=\"\(frame.left)\" x2=\"\(Frame.width - Frame.margin)\" y1=\"\(frame.y(threshold))\" "
                + "y2=\"\(frame.y(threshold))\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>"
        }
        svg += "</svg>"
        sections.append("<h2>\(escape(title))</h2>\n\(svg)")
    }

    /// A histogram of `values` in `bins` equal bins (each a `<rect class="bin">`), with an optional
    /// dashed vertical line at `marker` (`<line class="marker">`, named `markerName` in the legend);
    /// bins past the marker are drawn in the second colour.
    public mutating func addHistogram(id: String, title: String, xLabel: String, values: [Double], bins: Int = 40,
                                      marker: Double? = nil, markerName: String = "threshold") {
        let finite = values.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max(), bins >= 1 else { return }
        let span = high > low ? high - low : 1
        var counts = Array(repeating: 0, count: bins)
        for v in finite { counts[min(bins - 1, Int((v - low) / span * Double(bins)))] += 1 }
        let width = span / Double(bins)
        let frame = Frame(xs: [low, low + span] + (marker.map { [$0] } ?? []), ys: [0, Double(counts.max() ?? 1)], wholeX: false)
        var svg = frame.open(id: id, xLabel: xLabel, yLabel: "rows")
        svg += "<g class=\"plot\" clip-path=\"url(#\(id)-plot)\">"
        for (index, count) in counts.enumerated() where count > 0 {
            let from = low + Double(index) * width
            let colour = marker.map { from >= $0 } == true ? Self.colour(1) : Self.colour(0)
            svg += "<rect class=\"bin\" x=\"\(frame.x(from))\" y=\"\(frame.y(Double(count)))\" width=\"\(format(max(1, width * frame.xScale - 1)))\" "
                + "height=\"\(format(Double(count) * frame.yScale))\" fill=\"\(colour)\"><title>\(format(from)) to \(format(from + width)): \(count) rows</title></rect>"
        }
        if let marker {
            svg += "<line class=\"marker\" x1=\"\(frame.x(marker))\" x2=\"\(frame.x(marker))\" y1=\"\(Frame.margin)\" y2=\"\(Frame.height - Frame.margin)\" "
                + "stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"6 4\"><title>\(escape(markerName)) \(format(marker))</title></line>"
        }
        svg += "</g>"
        if let marker { svg += legend(["\(markerName) \(format(marker))"], colours: ["#d62728"]) }
        svg += "</svg>"
        sections.append("<h2>\(escape(title))</h2>\n\(svg)")
    }

    /// A table.
    public mutating func addTable(title: String, header: [String], rows: [[String]]) {
        // A wide table scrolls inside its box rather than widening the page.
        var html = "<h2>\(escape(title))</h2>\n<div class=\"table\"><table><thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for row in rows { html += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }
        sections.append(html + "</tbody></table></div>")
    }

    /// The page.
    public var html: String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; padding: 0 16px; max-width: 980px; color: #222; }
        h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
        svg { background: #fff; border: 1px solid #ddd; box-sizing: border-box; width: 100%; max-width: 900px; height: auto; display: block; }
        table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
        div.table { overflow-x: auto; max-width: 100%; }
        td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
        .axis text { font-size: 11px; fill: #555; }
        </style></head><body>
        <h1>\(escape(title))</h1>
        \(sections.joined(separator: "\n"))
        </body></html>
        """
    }

    /// Writes `DIRECTORY/index.html` (creating the directory).
    public func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(html.utf8).write(to: URL(fileURLWithPath: directory).appendingPathComponent("index.html"), options: .atomic)
    }

    private func legend(_ names: [String], colours: [String]? = nil) -> String {
        var svg = ""
        for (index, name) in names.enumerated() {
            let y = 16 + 16 * index
            svg += "<rect x=\"\(Frame.width - 150)\" y=\"\(y - 9)\" width=\"10\" height=\"10\" fill=\"\(colours?[index] ?? Self.colour(index))\"/>"
                + "<text x=\"\(Frame.width - 134)\" y=\"\(y)\" font-size=\"11\">\(escape(name))</text>"
        }
        return svg
    }
}

/// The drawing area of a chart and its mapping from data to pixels.
///
/// The SVG has a `viewBox` and `width="100%"`, so it scales with the window; the left margin
/// grows with the longest y tick label, so the rotated y title never overlaps the ticks.
struct Frame {
    static let width = 900, height = 420, margin = 56
    let xMin: Double, xMax: Double, yMin: Double, yMax: Double
    /// Whether the x values are whole numbers (iterations, epochs, K): ticks are then whole too.
    let wholeX: Bool
    /// The plot's left edge: room for the y title and the widest y tick label.
    let left: Int
    /// Width of one character of an 11-pixel tick label, generously.
    static let tickCharacterWidth = 7.0

    /// A frame around `xs` and `ys`; `wholeX` asks for whole-number x ticks (default: when every x is whole).
    init(xs: [Double], ys: [Double], wholeX: Bool? = nil) {
        self.wholeX = wholeX ?? xs.allSatisfy { $0 == $0.rounded() }
        func padded(_ values: [Double]) -> (Double, Double) {
            let low = values.min() ?? 0, high = values.max() ?? 1
            let span = high - low
            return span > 0 ? (low - 0.04 * span, high + 0.04 * span) : (low - 1, high + 1)
        }
        (xMin, xMax) = padded(xs)
        (yMin, yMax) = padded(ys)
        let (low, high) = (yMin, yMax)
        let widest = Self.yTicks(low, high).map { tick($0, span: high - low).count }.max() ?? 1
        // The title's 11-pixel line is centred at x = 14; ticks end 6 pixels left of the axis.
        left = max(Self.margin, 22 + 8 + 6 + Int((Double(widest) * Self.tickCharacterWidth).rounded(.up)))
    }

    static func yTicks(_ low: Double, _ high: Double) -> [Double] { (0...4).map { low + (high - low) * Double($0) / 4 } }

    var xScale: Double { Double(Self.width - left - Self.margin) / (xMax - xMin) }
    var yScale: Double { Double(Self.height - 2 * Self.margin) / (yMax - yMin) }
    func x(_ value: Double) -> String { format(Double(left) + (value - xMin) * xScale) }
    func y(_ value: Double) -> String { format(Double(Self.height - Self.margin) - (value - yMin) * yScale) }

    func open(id: String, xLabel: String, yLabel: String) -> String {
        var svg = "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"100%\" viewBox=\"0 0 \(Self.width) \(Self.height)\" "
            + "preserveAspectRatio=\"xMidYMid meet\">"
        let left = self.left, right = Self.width - Self.margin, top = Self.margin, bottom = Self.height - Self.margin
        svg += "<defs><clipPath id=\"\(id)-plot\"><rect x=\"\(left)\" y=\"\(top)\" width=\"\(right - left)\" height=\"\(bottom - top)\"/></clipPath></defs>"
        svg += "<g class=\"axis\"><line x1=\"\(left)\" y1=\"\(bottom)\" x2=\"\(right)\" y2=\"\(bottom)\" stroke=\"#888\"/>"
            + "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(bottom)\" stroke=\"#888\"/>"
        var xTicks = (0...4).map { xMin + (xMax - xMin) * Double($0) / 4 }
        if wholeX {
            let step = max(1, ((xMax - xMin) / 5).rounded(.up))
            xTicks = Array(stride(from: xMin.rounded(.up), through: xMax, by: step))
        }
        for fx in xTicks {
            svg += "<text x=\"\(x(fx))\" y=\"\(bottom + 16)\" text-anchor=\"middle\">\(tick(fx, span: xMax - xMin))</text>"
        }
        for fy in Self.yTicks(yMin, yMax) {
            svg += "<text x=\"\(left - 6)\" y=\"\(y(fy))\" text-anchor=\"end\" dominant-baseline=\"middle\">\(tick(fy, span: yMax - yMin))</text>"
        }
        svg += "<text class=\"x-title\" x=\"\((left + right) / 2)\" y=\"\(Self.height - 12)\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        svg += "<text class=\"y-title\" x=\"14\" y=\"\((top + bottom) / 2)\" text-anchor=\"middle\" dominant-baseline=\"middle\" transform=\"rotate(-90 14 \((top + bottom) / 2))\">\(escape(yLabel))</text></g>"
        return svg
    }
}

/// A tick label with enough digits to tell ticks `span / 4` apart.
func tick(_ value: Double, span: Double) -> String {
    if value == value.rounded(), span >= 4 { return String(Int(value)) }
    let step = span / 4
    let decimals = step > 0 ? max(0, min(10, 1 - Int(log10(step).rounded(.down)))) : 2
    return String(format: "%.\(decimals)f", value)
}

func format(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e6 { return String(Int(value)) }
    let magnitude = abs(value)
    return magnitude >= 1e5 || magnitude < 1e-3 ? String(format: "%.3g", value) : String(format: "%.4g", value)
}

func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
