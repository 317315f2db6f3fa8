"""Neural processing of tri-plane fields (docs/methods.md): fitting one tri-plane per shape of a collection, locally
or on Ray (:mod:`.collection`), and classifying the fitted tri-planes (:mod:`.classify`)."""
