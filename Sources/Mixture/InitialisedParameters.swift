extension MixtureFitter {
    /// The parameters the first start of ``fit(resuming:checkpointEvery:checkpoint:progress:)``
    /// begins from when no initial parameters are given: one M-step on the responsibilities of
    /// `options.initialisation` (scikit-learn's `_initialize_parameters`), with the first start's seed.
    ///
    /// `gmm fit --init-given` replaces some of them (scikit-learn's `weights_init`, `means_init`,
    /// `precisions_init` given alone), and `gmm fit --initialise-only` writes them as the model
    /// (scikit-learn's `max_iter=0`).
    ///
    /// - Throws: `MixtureError` when the options do not fit the data.
    public func initialisedParameters() throws -> MixtureParameters {
        try validate()
        let summary = try DataSummary.compute(runner)
        return try Initialisation.parameters(runner, summary: summary, options: options, seed: options.seed)
    }
}
