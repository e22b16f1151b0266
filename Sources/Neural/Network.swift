import CKernels
import Foundation
import Numerics

/// A floating-point type the forward and backward passes compute in: `Double`, or `Float` for
/// training at single precision (twice the arithmetic per cycle and half the memory traffic).
public protocol NetworkScalar: BinaryFloatingPoint, Sendable {
    /// `C ← alpha·op(A)·op(B) + beta·C`, row-major.
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     b: UnsafePointer<Self>, ldb: Int, beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// `z ← max(z, 0)` element-wise.
    static func relu(_ z: UnsafeMutablePointer<Self>, count: Int)
    /// `delta ← 0` wherever `a ≤ 0`.
    static func reluMask(_ delta: UnsafeMutablePointer<Self>, activations a: UnsafePointer<Self>, count: Int)
    /// `out[j] = Σ_r m[r·columns + j]`, rows in order (`rows ≥ 1`).
    static func columnSums(_ m: UnsafePointer<Self>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Self>)
    /// The exponential.
    static func exponential(_ x: Self) -> Self
    /// The natural logarithm.
    static func logarithm(_ x: Self) -> Self
    /// `log(1 + x)`.
    static func logarithmOnePlus(_ x: Self) -> Self
    /// The hyperbolic tangent.
    static func hyperbolicTangent(_ x: Self) -> Self
    /// `out[i·width + j] = Self((source[rows[i]·d + j] − mean[j]) · scale[j])` for `j < d`, in
    /// double precision with one rounding; the other columns of each output row are left alone.
    static func standardiseRows(_ source: UnsafePointer<Double>, rows: UnsafePointer<Int>, count: Int, columns d: Int,
                                mean: UnsafePointer<Double>, scale: UnsafePointer<Double>, into out: UnsafeMutablePointer<Self>, width: Int)
    /// The same from single-precision rows (each value widened exactly first).
    static func standardiseRows(_ source: UnsafePointer<Float>, rows: UnsafePointer<Int>, count: Int, columns d: Int,
                                mean: UnsafePointer<Double>, scale: UnsafePointer<Double>, into out: UnsafeMutablePointer<Self>, width: Int)
}

/// The precision a network is trained in. Weights, optimizer state and model files are always
/// `Double`; `float32` runs the forward and backward passes on the weights rounded to `Float`.
public enum NetworkPrecision: String, Codable, Sendable, CaseIterable {
    /// Single-precision passes (the default for training, as in Keras and PyTorch).
    case float32
    /// Double-precision passes throughout.
    case float64
}

extension Double: NetworkScalar {
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
                            b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
    }
    public static func relu(_ z: UnsafeMutablePointer<Double>, count: Int) { emfleet_relu_f64(z, count) }
    public static func reluMask(_ delta: UnsafeMutablePointer<Double>, activations a: UnsafePointer<Double>, count: Int) {
        emfleet_relu_mask_f64(delta, a, count)
    }
    public static func columnSums(_ m: UnsafePointer<Double>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Double>) {
        emfleet_column_sums_f64(m, rows, columns, out)
    }
    public static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    public static func logarithm(_ x: Double) -> Double { Foundation.log(x) }
    public static func logarithmOnePlus(_ x: Double) -> Double { Foundation.log1p(x) }
    public static func hyperbolicTangent(_ x: Double) -> Double { Foundation.tanh(x) }
    public static func standardiseRows(_ source: UnsafePointer<Double>, rows: UnsafePointer<Int>, count: Int, columns d: Int,
                                       mean: UnsafePointer<Double>, scale: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, width: Int) {
        emfleet_standardise_rows_f64_f64(source, rows, count, d, mean, scale, out, width)
    }
    public static func standardiseRows(_ source: UnsafePointer<Float>, rows: UnsafePointer<Int>, count: Int, columns d: Int,
                                       mean: UnsafePointer<Double>, scale: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, width: Int) {
        emfleet_standardise_rows_f32_f64(source, rows, count, d, mean, scale, out, width)
    }
}

extension Float: NetworkScalar {
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
    }
    public static func relu(_ z: UnsafeMutablePointer<Float>, count: Int) { emfleet_relu_f32(z, count) }
    public static func reluMask(_ delta: UnsafeMutablePointer<Float>, activations a: UnsafePointer<Float>, count: Int) {
        emfleet_relu_mask_f32(delta, a, count)
    }
    public static func columnSums(_ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        emfleet_column_sums_f32(m, rows, columns, out)
    }
    public static func exponential(_ x: Float) -> Float { Foundation.exp(x) }
    public static func logarithm(_ x: Float) -> Float { Foundation.log(x) }
    public static func logarithmOnePlus(_ x: Float) -> Float { Foundation.log1p(x) }
    public static func hyperbolicTangent(_ x: Float) -> Float { Foundation.tanh(x) }
    public static func standardiseRows(_ source: UnsafePointer<Double>, rows: UnsafePointer<Int>, count: Int, columns d: Int,
                                       mean: UnsafePointer<Double>, scale: UnsafePointer<Double>, into out: UnsafeMutablePointer<Float>, width: Int) {
        emfleet_standardise_rows_f64_f32(source, rows, count, d, mean, scale, out, width)
    }
    public static func standardiseRows(_ source: UnsafePointer<Float>, rows: UnsafePointer<Int>, count: Int, columns d: Int,
                                       mean: UnsafePointer<Double>, scale: UnsafePointer<Double>, into out: UnsafeMutablePointer<Float>, width: Int) {
        emfleet_standardise_rows_f32_f32(source, rows, count, d, mean, scale, out, width)
    }
}

/// What a batch's targets are.
public enum Targets: Sendable {
    /// One class index per row in `0..<outputs` (softmax cross-entropy); for binary
    /// cross-entropy with one output, 0 or 1.
    case classes([Int])
    /// `rows × outputs` values, row-major: regression targets (MSE), 0/1 labels (binary
    /// cross-entropy, multi-label), or class probabilities such as one-hot rows (softmax
    /// cross-entropy).
    case values([Double])
}

/// Reusable buffers for the forward and backward passes of batches of up to `capacity` rows.
///
/// A workspace holds every layer's activations and the back-propagated errors, so
/// `Network.batchSums` allocates nothing but the gradient it returns. It is not safe to share
/// between threads: make one per thread. A batch larger than `capacity` grows the buffers.
/// `Scalar` is the precision the passes compute in.
public final class NetworkWorkspace<Scalar: NetworkScalar> {
    /// The architecture the buffers are laid out for.
    public let architecture: NetworkArchitecture
    /// Rows the buffers hold without growing.
    public private(set) var capacity: Int

    /// `[inputs] + hidden + [outputs]`.
    let widths: [Int]
    /// Offsets of each layer's weights in the parameter vector (its bias follows).
    let weightOffsets: [Int]
    let parameterCount: Int
    let maximumWidth: Int
    /// `activations[l]` (l ≥ 1) holds layer l's outputs, `rows × widths[l]`: the hidden
    /// activations, and the output layer's pre-activations (logits).
    private(set) var activations: [UnsafeMutablePointer<Scalar>]
    /// Two `capacity × maximumWidth` buffers for the errors ∂loss/∂z, used alternately.
    private(set) var deltas: (UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<Scalar>)
    /// With dropout, per hidden layer l (indices as `activations`): the activations before
    /// dropout and the masks; empty until a batch with dropout needs them.
    private(set) var undropped: [UnsafeMutablePointer<Scalar>] = []
    private(set) var masks: [UnsafeMutablePointer<Scalar>] = []

    /// Creates buffers for batches of up to `capacity` rows of `architecture`.
    public init(architecture: NetworkArchitecture, capacity: Int) {
        self.architecture = architecture
        self.capacity = max(1, capacity)
        widths = architecture.layerSizes
        var offsets: [Int] = [], offset = 0
        for l in 0..<(widths.count - 1) {
            offsets.append(offset)
            offset += widths[l] * widths[l + 1] + widths[l + 1]
        }
        weightOffsets = offsets
        parameterCount = offset
        maximumWidth = widths.dropFirst().max()!
        activations = []
        deltas = (.allocate(capacity: 1), .allocate(capacity: 1))
        allocate()
    }

    deinit { release() }

    /// Makes room for `rows` rows (allocates only when the batch is larger than ever before).
    func reserve(rows: Int) {
        guard rows > capacity else { return }
        release()
        capacity = rows
        allocate()
    }

    private func allocate() {
        activations = [.allocate(capacity: 1)] + widths.dropFirst().map { .allocate(capacity: capacity * $0) }
        deltas = (.allocate(capacity: capacity * maximumWidth), .allocate(capacity: capacity * maximumWidth))
    }

    /// Makes the dropout buffers for `capacity` rows.
    func reserveDropout() {
        guard undropped.isEmpty else { return }
        undropped = [.allocate(capacity: 1)] + widths.dropFirst().map { .allocate(capacity: capacity * $0) }
        masks = [.allocate(capacity: 1)] + widths.dropFirst().map { .allocate(capacity: capacity * $0) }
    }

    private func release() {
        for buffer in activations + undropped + masks { buffer.deallocate() }
        undropped = []
        masks = []
        deltas.0.deallocate()
        deltas.1.deallocate()
    }
}

/// The sums over a batch of rows: always sums over rows, never means.
///
/// Workers add these up over their rows and the caller divides by the global batch's total
/// weight (its row count without sample weights), so the result does not depend on how rows
/// were split. With sample weights every per-row term (loss, errors, gradient, a right
/// prediction) is multiplied by the row's weight.
public struct BatchSums: Sendable, Equatable {
    /// Rows summed.
    public var rows: Int
    /// Σ of the rows' sample weights (the row count, exactly, without weights).
    public var weight: Double
    /// Σ of the weights of the rows predicted right (``correct`` without weights).
    public var correctWeight: Double
    /// Σ per-row loss: cross-entropy `−log p_true`; binary cross-entropy summed over the
    /// outputs; MSE `½ Σ_outputs (y − t)²` (so that the gradient is `y − t`).
    public var lossSum: Double
    /// Rows predicted right: the softmax argmax is the class, or (binary cross-entropy)
    /// every output thresholded at 0.5 matches its label. Always 0 for MSE.
    public var correct: Int
    /// MSE only: Σ (y − t)² over rows and outputs; 0 otherwise.
    public var squaredErrorSum: Double
    /// MSE only: Σ |y − t| over rows and outputs; 0 otherwise.
    public var absoluteErrorSum: Double
    /// Σ over rows of ∂loss/∂parameters in the parameter layout, from double-precision passes;
    /// empty when not asked for.
    public var gradient: [Double]
    /// The same sum from single-precision passes, kept (and added up) in `Float`; empty otherwise.
    public var narrowGradient: [Float] = []

    /// Creates sums from their parts.
    public init(rows: Int, lossSum: Double, correct: Int, squaredErrorSum: Double, absoluteErrorSum: Double, gradient: [Double],
                narrowGradient: [Float] = [], weight: Double? = nil, correctWeight: Double? = nil) {
        self.rows = rows
        self.weight = weight ?? Double(rows)
        self.correctWeight = correctWeight ?? Double(correct)
        self.lossSum = lossSum
        self.correct = correct
        self.squaredErrorSum = squaredErrorSum
        self.absoluteErrorSum = absoluteErrorSum
        self.gradient = gradient
        self.narrowGradient = narrowGradient
    }

    /// The gradient sum in `Double`, whichever precision it was computed in.
    public var wideGradient: [Double] {
        require(gradient.isEmpty || narrowGradient.isEmpty, "sums hold gradients of both precisions")
        return narrowGradient.isEmpty ? gradient : narrowGradient.map { Double($0) }
    }

    /// Whether the loss, the error sums and the gradient are all finite (false once training diverges).
    public var isFinite: Bool {
        lossSum.isFinite && squaredErrorSum.isFinite && absoluteErrorSum.isFinite
            && VectorMath.allFinite(gradient) && VectorMath.allFinite(narrowGradient)
    }

    /// Adds another batch's sums to these (gradients element-wise; an empty gradient counts as zero).
    public mutating func add(_ other: BatchSums) {
        rows += other.rows
        weight += other.weight
        correctWeight += other.correctWeight
        lossSum += other.lossSum
        correct += other.correct
        squaredErrorSum += other.squaredErrorSum
        absoluteErrorSum += other.absoluteErrorSum
        Self.add(other.gradient, to: &gradient)
        Self.add(other.narrowGradient, to: &narrowGradient)
    }

    private static func add<Scalar: NetworkScalar>(_ other: [Scalar], to sum: inout [Scalar]) {
        if sum.isEmpty {
            sum = other
        } else if !other.isEmpty {
            require(sum.count == other.count, "gradients of different lengths")
            sum.withUnsafeMutableBufferPointer { target in
                other.withUnsafeBufferPointer { source in
                    for i in 0..<target.count { target[i] += source[i] }
                }
            }
        }
    }
}

/// Forward and backward passes of a fully connected network over batches of rows.
///
/// Every matrix product is one `dgemm` over the whole batch; the arithmetic is sequential,
/// so the same inputs always give the same bits.
/// Dropout for one step: each hidden unit of each row is kept with probability `1 − p` of its
/// layer and scaled by `1/(1 − p)` when kept (inverted dropout, so that predictions need no
/// scaling), and zeroed otherwise.
///
/// Which units are dropped depends only on `seed` (the step's) and each row's key (its place in
/// the data, never in the batch or on a worker), so a step's masks, and the model, are the same
/// bits however the rows are split over workers.
///
/// ```swift
/// let dropout = Dropout(rates: [0.5, 0.5], seed: stepSeed, rowKeys: rows.map { UInt64($0) })
/// ```
public struct Dropout: Sendable, Equatable {
    /// The probability of dropping a unit, per hidden layer (in [0, 1)).
    public var rates: [Double]
    /// The step's seed.
    public var seed: UInt64
    /// One key per row of the batch, in batch order.
    public var rowKeys: [UInt64]

    /// Dropout with `rates` per hidden layer for the rows keyed `rowKeys`.
    public init(rates: [Double], seed: UInt64, rowKeys: [UInt64]) {
        self.rates = rates; self.seed = seed; self.rowKeys = rowKeys
    }

    /// Whether any layer drops anything.
    public var isActive: Bool { rates.contains { $0 > 0 } }

    /// Writes row `row`'s mask of hidden layer `layer` (`width` values: 0 or 1/(1 − p)).
    package func mask<Scalar: NetworkScalar>(layer: Int, row: Int, width: Int, into mask: UnsafeMutablePointer<Scalar>) {
        let p = layer < rates.count ? rates[layer] : 0
        guard p > 0 else {
            mask.update(repeating: 1, count: width)
            return
        }
        let kept = Scalar(1 / (1 - p))
        var generator = SeededGenerator(seed: seed ^ (rowKeys[row] &* 0x9E37_79B9_7F4A_7C15), stream: UInt64(layer))
        for j in 0..<width { mask[j] = generator.nextUniform() < p ? 0 : kept }
    }
}

public enum Network {
    /// Loss, accuracy counts and (when `gradient`) the gradient, summed over `rows` rows.
    ///
    /// ```swift
    /// let workspace = NetworkWorkspace(architecture: architecture, capacity: 256)
    /// let sums = Network.batchSums(architecture: architecture, parameters: parameters,
    ///                              inputs: batch, rows: 256, targets: .classes(labels),
    ///                              gradient: true, workspace: workspace)
    /// // mean gradient: sums.gradient / Double(sums.rows)
    /// ```
    ///
    /// - Parameters:
    ///   - architecture: The network; it must be the workspace's.
    ///   - parameters: `parameterCount` values.
    ///   - inputs: At least `rows × inputs` values, row-major; the first `rows` rows are used.
    ///   - rows: Rows in the batch; 0 gives zero sums (and a zero gradient when asked for).
    ///   - targets: At least `rows` class indices or `rows × outputs` values. Softmax
    ///     cross-entropy takes either; binary cross-entropy takes values, or classes when it
    ///     has one output; MSE takes values.
    ///   - gradient: Whether to run the backward pass.
    ///   - workspace: Buffers for this thread; grown when `rows` exceeds its capacity.
    ///   - weights: Each row's sample weight (at least `rows`, finite and non-negative): its
    ///     loss, errors, gradient and right prediction count that many times. Nil: once each.
    ///   - dropout: Units dropped in the hidden layers (a training step's; nil: none).
    /// - Returns: The sums; the process stops with a message when shapes or labels are invalid.
    public static func batchSums(
        architecture: NetworkArchitecture, parameters: [Double], inputs: [Double], rows: Int,
        targets: Targets, gradient: Bool, workspace: NetworkWorkspace<Double>, weights: [Double]? = nil, dropout: Dropout? = nil
    ) -> BatchSums {
        sums(architecture: architecture, parameters: parameters, inputs: inputs, rows: rows, targets: targets,
             gradient: gradient, workspace: workspace, weights: weights, dropout: dropout)
    }

    /// ``batchSums(architecture:parameters:inputs:rows:targets:gradient:workspace:)`` computed in
    /// single precision: the same passes on `Float` parameters and inputs. The loss terms are
    /// added up in `Double`; the gradient comes back in `narrowGradient` (`gradient` stays empty).
    public static func batchSums(
        architecture: NetworkArchitecture, parameters: [Float], inputs: [Float], rows: Int,
        targets: Targets, gradient: Bool, workspace: NetworkWorkspace<Float>, weights: [Double]? = nil, dropout: Dropout? = nil
    ) -> BatchSums {
        sums(architecture: architecture, parameters: parameters, inputs: inputs, rows: rows, targets: targets,
             gradient: gradient, workspace: workspace, weights: weights, dropout: dropout)
    }

    // Generic over the precision but internal, so that both public entry points get
    // specialised code.
    private static func sums<Scalar: NetworkScalar>(
        architecture: NetworkArchitecture, parameters: [Scalar], inputs: [Scalar], rows: Int,
        targets: Targets, gradient: Bool, workspace: NetworkWorkspace<Scalar>, weights: [Double]?, dropout: Dropout?
    ) -> BatchSums {
        require(workspace.architecture == architecture, "the workspace was made for another architecture")
        require(dropout.map { $0.rowKeys.count >= rows && $0.rates.allSatisfy { (0..<1).contains($0) } } ?? true,
                "dropout needs a key per row and rates in [0, 1)")
        let dropout = dropout?.isActive == true ? dropout : nil
        require(weights.map { $0.count >= rows } ?? true, "\(rows) rows need \(rows) weights, got \(weights?.count ?? 0)")
        require(parameters.count == workspace.parameterCount,
                "expected \(workspace.parameterCount) parameters, got \(parameters.count)")
        require(rows >= 0 && inputs.count >= rows * architecture.inputs,
                "\(rows) rows need \(rows * architecture.inputs) input values, got \(inputs.count)")
        let outputs = architecture.outputs
        switch (architecture.loss, targets) {
        case (.meanSquaredError, .classes):
            fatalError("mean squared error needs .values targets, got .classes")
        case (.binaryCrossEntropy, .classes) where outputs != 1:
            fatalError("binary cross-entropy with \(outputs) outputs needs .values targets, got .classes")
        case let (_, .classes(labels)):
            require(labels.count >= rows, "\(rows) rows need \(rows) class labels, got \(labels.count)")
        case let (_, .values(values)):
            require(values.count >= rows * outputs,
                    "\(rows) rows need \(rows * outputs) target values, got \(values.count)")
        }

        var sums = BatchSums(rows: rows, lossSum: 0, correct: 0, squaredErrorSum: 0, absoluteErrorSum: 0, gradient: [])
        if let weights { sums.weight = weights.prefix(rows).reduce(0, +) }
        guard rows > 0 else {
            if gradient {
                if Scalar.self == Double.self {
                    sums.gradient = [Double](repeating: 0, count: workspace.parameterCount)
                } else {
                    sums.narrowGradient = [Float](repeating: 0, count: workspace.parameterCount)
                }
            }
            return sums
        }
        workspace.reserve(rows: rows)
        parameters.withUnsafeBufferPointer { parameterBuffer in
            inputs.withUnsafeBufferPointer { inputBuffer in
                let w = parameterBuffer.baseAddress!, x = inputBuffer.baseAddress!
                forward(architecture, parameters: w, inputs: x, rows: rows, workspace: workspace, dropout: dropout)
                let logits = workspace.activations[workspace.widths.count - 1]
                let delta = workspace.deltas.0
                func terms(_ weights: UnsafePointer<Double>?) {
                    switch targets {
                    case let .classes(labels):
                        labels.withUnsafeBufferPointer {
                            lossTerms(architecture, logits: logits, rows: rows, labels: $0.baseAddress!, values: nil,
                                      weights: weights, delta: delta, sums: &sums)
                        }
                    case let .values(values):
                        values.withUnsafeBufferPointer {
                            lossTerms(architecture, logits: logits, rows: rows, labels: nil, values: $0.baseAddress!,
                                      weights: weights, delta: delta, sums: &sums)
                        }
                    }
                }
                if let weights { weights.withUnsafeBufferPointer { terms($0.baseAddress!) } } else { terms(nil) }
                if gradient {
                    let n = workspace.parameterCount
                    let computed = [Scalar](unsafeUninitializedCapacity: n) { buffer, count in
                        backward(architecture, parameters: w, inputs: x, rows: rows, workspace: workspace, dropout: dropout != nil,
                                 gradient: buffer.baseAddress!)
                        count = n
                    }
                    // Scalar is Double or Float: the checked type makes each bit cast exact.
                    if Scalar.self == Double.self {
                        sums.gradient = unsafeBitCast(computed, to: [Double].self)
                    } else {
                        sums.narrowGradient = unsafeBitCast(computed, to: [Float].self)
                    }
                }
            }
        }
        return sums
    }

    /// The network's outputs for `rows` rows of `inputs` (`rows × inputs`, row-major).
    ///
    /// - Returns: `rows × outputs` values, row-major: softmax probabilities (cross-entropy),
    ///   sigmoid probabilities (binary cross-entropy) or the predicted values (MSE).
    public static func predict(architecture: NetworkArchitecture, parameters: [Double], inputs: [Double], rows: Int) -> [Double] {
        require(parameters.count == architecture.parameterCount,
                "expected \(architecture.parameterCount) parameters, got \(parameters.count)")
        require(rows >= 0 && inputs.count >= rows * architecture.inputs,
                "\(rows) rows need \(rows * architecture.inputs) input values, got \(inputs.count)")
        let outputs = architecture.outputs, chunk = 1024
        let workspace = NetworkWorkspace<Double>(architecture: architecture, capacity: min(max(rows, 1), chunk))
        var result = [Double](repeating: 0, count: rows * outputs)
        parameters.withUnsafeBufferPointer { parameterBuffer in
            inputs.withUnsafeBufferPointer { inputBuffer in
                result.withUnsafeMutableBufferPointer { resultBuffer in
                    for start in stride(from: 0, to: rows, by: chunk) {
                        let n = min(chunk, rows - start)
                        forward(architecture, parameters: parameterBuffer.baseAddress!,
                                inputs: inputBuffer.baseAddress! + start * architecture.inputs, rows: n, workspace: workspace)
                        let logits = workspace.activations[workspace.widths.count - 1]
                        let out = resultBuffer.baseAddress! + start * outputs
                        switch architecture.loss {
                        case .softmaxCrossEntropy:
                            for r in 0..<n { softmax(logits + r * outputs, count: outputs, into: out + r * outputs) }
                        case .binaryCrossEntropy:
                            for i in 0..<(n * outputs) { out[i] = sigmoid(logits[i]) }
                        case .meanSquaredError:
                            out.update(from: logits, count: n * outputs)
                        }
                    }
                }
            }
        }
        return result
    }

    // MARK: - Passes

    /// Fills the workspace's activations: hidden layers after their activation (and dropout,
    /// the undropped values and the masks kept for the backward pass), the output layer's
    /// pre-activations (logits).
    private static func forward<Scalar: NetworkScalar>(
        _ architecture: NetworkArchitecture, parameters: UnsafePointer<Scalar>, inputs: UnsafePointer<Scalar>,
        rows: Int, workspace: NetworkWorkspace<Scalar>, dropout: Dropout? = nil
    ) {
        let widths = workspace.widths, layers = widths.count - 1
        if dropout != nil { workspace.reserveDropout() }
        var input = inputs
        for l in 0..<layers {
            let fanIn = widths[l], fanOut = widths[l + 1]
            let weights = parameters + workspace.weightOffsets[l], bias = weights + fanIn * fanOut
            let z = workspace.activations[l + 1]
            for r in 0..<rows { (z + r * fanOut).update(from: bias, count: fanOut) }
            Scalar.gemm(
                transposeA: false, transposeB: false, m: rows, n: fanOut, k: fanIn, alpha: 1,
                a: input, lda: fanIn, b: weights, ldb: fanOut, beta: 1, c: z, ldc: fanOut)
            if l < layers - 1 {
                activate(architecture.activation, z, count: rows * fanOut)
                if let dropout {
                    let undropped = workspace.undropped[l + 1], mask = workspace.masks[l + 1]
                    undropped.update(from: z, count: rows * fanOut)
                    for r in 0..<rows { dropout.mask(layer: l, row: r, width: fanOut, into: mask + r * fanOut) }
                    for i in 0..<(rows * fanOut) { z[i] *= mask[i] }
                }
            }
            input = UnsafePointer(z)
        }
    }

    /// Back-propagates `workspace.deltas.0` (∂loss/∂logits) and writes Σ_rows ∂loss/∂parameters.
    private static func backward<Scalar: NetworkScalar>(
        _ architecture: NetworkArchitecture, parameters: UnsafePointer<Scalar>, inputs: UnsafePointer<Scalar>,
        rows: Int, workspace: NetworkWorkspace<Scalar>, dropout: Bool = false, gradient: UnsafeMutablePointer<Scalar>
    ) {
        let widths = workspace.widths
        var delta = workspace.deltas.0, spare = workspace.deltas.1
        for l in stride(from: widths.count - 2, through: 0, by: -1) {
            let fanIn = widths[l], fanOut = widths[l + 1]
            let offset = workspace.weightOffsets[l]
            let input = l == 0 ? inputs : UnsafePointer(workspace.activations[l])
            // ∂W = Aᵀ·δ, ∂b = Σ_rows δ.
            Scalar.gemm(
                transposeA: true, transposeB: false, m: fanIn, n: fanOut, k: rows, alpha: 1,
                a: input, lda: fanIn, b: delta, ldb: fanOut, beta: 0, c: gradient + offset, ldc: fanOut)
            Scalar.columnSums(delta, rows: rows, columns: fanOut, into: gradient + offset + fanIn * fanOut)
            guard l > 0 else { break }
            // δ_{l} = (δ_{l+1}·Wᵀ) ⊙ f'(a_l).
            Scalar.gemm(
                transposeA: false, transposeB: true, m: rows, n: fanIn, k: fanOut, alpha: 1,
                a: delta, lda: fanOut, b: parameters + offset, ldb: fanOut, beta: 0, c: spare, ldc: fanIn)
            if dropout {
                // a = f(z) ⊙ m: the error reaches f(z) through the mask, and f' is taken at the undropped value.
                let mask = workspace.masks[l]
                for i in 0..<(rows * fanIn) { spare[i] *= mask[i] }
                multiplyByDerivative(architecture.activation, spare, activations: workspace.undropped[l], count: rows * fanIn)
            } else {
                multiplyByDerivative(architecture.activation, spare, activations: workspace.activations[l], count: rows * fanIn)
            }
            swap(&delta, &spare)
        }
    }

    /// Adds each row's loss, accuracy and error terms to `sums` and writes ∂loss/∂logits to `delta`.
    /// Exactly one of `labels` and `values` is given.
    private static func lossTerms<Scalar: NetworkScalar>(
        _ architecture: NetworkArchitecture, logits: UnsafeMutablePointer<Scalar>, rows: Int,
        labels: UnsafePointer<Int>?, values: UnsafePointer<Double>?, weights: UnsafePointer<Double>?,
        delta: UnsafeMutablePointer<Scalar>, sums: inout BatchSums
    ) {
        if let weights {
            weightedLossTerms(architecture, logits: logits, rows: rows, labels: labels, values: values, weights: weights, delta: delta, sums: &sums)
            return
        }
        let k = architecture.outputs
        // Terms are computed in the network's precision and added up in Double.
        var loss = 0.0, correct = 0
        switch architecture.loss {
        case .softmaxCrossEntropy:
            for r in 0..<rows {
                let z = logits + r * k, d = delta + r * k
                var maximum = z[0], best = 0
                for j in 1..<max(1, k) where z[j] > maximum { maximum = z[j]; best = j }
                var sum: Scalar = 0
                for j in 0..<k { d[j] = Scalar.exponential(z[j] - maximum); sum += d[j] }
                let logNormaliser = maximum + Scalar.logarithm(sum)
                for j in 0..<k { d[j] /= sum }
                if let labels {
                    let label = labels[r]
                    require(label >= 0 && label < k, "row \(r): class label \(label) is outside 0..<\(k)")
                    loss += Double(logNormaliser - z[label])
                    d[label] -= 1
                    if best == label { correct += 1 }
                } else {
                    let t = values! + r * k
                    var mass: Scalar = 0, target = 0
                    for j in 0..<k {
                        let tj = Scalar(t[j])
                        mass += tj
                        loss += Double(tj * (logNormaliser - z[j]))
                        if t[j] > t[target] { target = j }
                    }
                    for j in 0..<k { d[j] = d[j] * mass - Scalar(t[j]) }
                    if best == target { correct += 1 }
                }
            }
        case .binaryCrossEntropy:
            for r in 0..<rows {
                let z = logits + r * k, d = delta + r * k
                var allRight = true
                for j in 0..<k {
                    let t: Scalar
                    if let labels {
                        let label = labels[r]
                        require(label == 0 || label == 1, "row \(r): binary label \(label) is not 0 or 1")
                        t = Scalar(label)
                    } else {
                        t = Scalar(values![r * k + j])
                    }
                    let e = Scalar.exponential(-abs(z[j]))
                    loss += Double(max(z[j], 0) - z[j] * t + Scalar.logarithmOnePlus(e))
                    let p = z[j] >= 0 ? 1 / (1 + e) : e / (1 + e)
                    d[j] = p - t
                    if (p >= 0.5) != (t >= 0.5) { allRight = false }
                }
                if allRight { correct += 1 }
            }
        case .meanSquaredError:
            let t = values!
            var squares = 0.0, absolute = 0.0
            for i in 0..<(rows * k) {
                let difference = logits[i] - Scalar(t[i])
                delta[i] = difference
                let wide = Double(difference)
                squares += wide * wide
                absolute += abs(wide)
            }
            loss = 0.5 * squares
            sums.squaredErrorSum = squares
            sums.absoluteErrorSum = absolute
        }
        sums.lossSum = loss
        sums.correct = correct
        sums.correctWeight = Double(correct)
    }

    /// The loss terms and output deltas with sample weights: each row's terms are computed as
    /// without weights, then its loss and errors are added times its weight and its deltas (so
    /// its gradient) are multiplied by it.
    private static func weightedLossTerms<Scalar: NetworkScalar>(
        _ architecture: NetworkArchitecture, logits: UnsafeMutablePointer<Scalar>, rows: Int,
        labels: UnsafePointer<Int>?, values: UnsafePointer<Double>?, weights: UnsafePointer<Double>,
        delta: UnsafeMutablePointer<Scalar>, sums: inout BatchSums
    ) {
        let k = architecture.outputs
        var loss = 0.0, squares = 0.0, absolute = 0.0, correct = 0, correctWeight = 0.0
        var row = BatchSums(rows: 1, lossSum: 0, correct: 0, squaredErrorSum: 0, absoluteErrorSum: 0, gradient: [])
        for r in 0..<rows {
            lossTerms(architecture, logits: logits + r * k, rows: 1, labels: labels.map { $0 + r }, values: values.map { $0 + r * k },
                      weights: nil, delta: delta + r * k, sums: &row)
            let w = weights[r]
            loss += w * row.lossSum
            squares += w * row.squaredErrorSum
            absolute += w * row.absoluteErrorSum
            correct += row.correct
            correctWeight += w * Double(row.correct)
            let scale = Scalar(w)
            for j in 0..<k { delta[r * k + j] *= scale }
        }
        sums.lossSum = loss
        sums.correct = correct
        sums.correctWeight = correctWeight
        if architecture.loss == .meanSquaredError {
            sums.squaredErrorSum = squares
            sums.absoluteErrorSum = absolute
        }
    }

    // MARK: - Element-wise pieces

    private static func activate<Scalar: NetworkScalar>(_ activation: Activation, _ z: UnsafeMutablePointer<Scalar>, count: Int) {
        switch activation {
        case .relu: Scalar.relu(z, count: count)
        case .tanh: for i in 0..<count { z[i] = Scalar.hyperbolicTangent(z[i]) }
        case .sigmoid: for i in 0..<count { z[i] = sigmoid(z[i]) }
        case .linear: break
        }
    }

    /// `delta ⊙ f'(z)`, with the derivative written in terms of the activation `a = f(z)`.
    private static func multiplyByDerivative<Scalar: NetworkScalar>(
        _ activation: Activation, _ delta: UnsafeMutablePointer<Scalar>, activations a: UnsafePointer<Scalar>, count: Int
    ) {
        switch activation {
        case .relu: Scalar.reluMask(delta, activations: a, count: count)
        case .tanh: for i in 0..<count { delta[i] *= 1 - a[i] * a[i] }
        case .sigmoid: for i in 0..<count { delta[i] *= a[i] * (1 - a[i]) }
        case .linear: break
        }
    }

    /// The logistic function without overflow for large |z|.
    @inline(__always)
    static func sigmoid<Scalar: NetworkScalar>(_ z: Scalar) -> Scalar {
        if z >= 0 { return 1 / (1 + Scalar.exponential(-z)) }
        let e = Scalar.exponential(z)
        return e / (1 + e)
    }

    /// Softmax of `count` logits with the maximum subtracted.
    private static func softmax(_ z: UnsafePointer<Double>, count: Int, into p: UnsafeMutablePointer<Double>) {
        var maximum = z[0]
        for j in 1..<max(1, count) where z[j] > maximum { maximum = z[j] }
        var sum = 0.0
        for j in 0..<count { p[j] = Foundation.exp(z[j] - maximum); sum += p[j] }
        for j in 0..<count { p[j] /= sum }
    }
}

/// Adds L2 weight decay to a gradient: `gradient[i] += lambda · parameters[i]` for every
/// weight entry; biases are not decayed.
///
/// - Parameters:
///   - lambda: The decay coefficient; 0 leaves the gradient unchanged.
///   - parameters: The current parameters.
///   - gradient: The gradient to update, in the parameter layout.
///   - architecture: The network the vectors belong to.
public func addWeightDecay(_ lambda: Double, parameters: [Double], to gradient: inout [Double], architecture: NetworkArchitecture) {
    require(parameters.count == architecture.parameterCount && gradient.count == parameters.count,
            "weight decay needs \(architecture.parameterCount) parameters and gradient values, got \(parameters.count) and \(gradient.count)")
    guard lambda != 0 else { return }
    for layer in 0..<architecture.layerCount {
        for i in architecture.weightRange(layer: layer) { gradient[i] += lambda * parameters[i] }
    }
}

/// Adds the gradient of an L1 penalty `lambda · Σ|w|`: `gradient[i] += lambda · sign(parameters[i])`
/// for every weight entry (0 for a weight that is exactly 0); biases are not penalised.
///
/// - Parameters:
///   - lambda: The penalty's coefficient; 0 leaves the gradient unchanged.
///   - parameters: The current parameters.
///   - gradient: The gradient to update, in the parameter layout.
///   - architecture: The network the vectors belong to.
public func addL1Penalty(_ lambda: Double, parameters: [Double], to gradient: inout [Double], architecture: NetworkArchitecture) {
    require(parameters.count == architecture.parameterCount && gradient.count == parameters.count,
            "the L1 penalty needs \(architecture.parameterCount) parameters and gradient values, got \(parameters.count) and \(gradient.count)")
    guard lambda != 0 else { return }
    for layer in 0..<architecture.layerCount {
        for i in architecture.weightRange(layer: layer) where parameters[i] != 0 {
            gradient[i] += parameters[i] > 0 ? lambda : -lambda
        }
    }
}

/// Stops with `message` when `condition` is false, also in `-Ounchecked` builds (where
/// `precondition` is not checked); used for shapes and labels before unchecked loops.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}
