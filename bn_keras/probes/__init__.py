"""Looking inside training: Ioffe & Szegedy's activation percentiles and Santurkar et al.'s
landscape and internal-covariate-shift measures, as opt-in callbacks writing their own files.

    activations.csv  every --probe_every iterations: percentiles of activation inputs
    landscape.csv    every --landscape_every iterations: loss landscape, gradient
                     predictiveness, effective beta-smoothness, Adadelta's eta_eff
    ics.csv          at the same steps: internal covariate shift per layer

The package imports nothing: bn_keras.training.probe_callbacks makes the callbacks, files.py
(no TensorFlow) writes their files, and plot.py is the command that draws them.
"""
