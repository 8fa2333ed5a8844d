"""The runtime every part of bertclf stands on: what the machine offers and the `auto` decisions
(`hardware`), importing and configuring TensorFlow (`tf_setup`), the Keras precision policy
(`precision`), tf.distribute strategies (`distribution`) and a run's runtime as one record
(`start`). Nothing here imports `training/`, `encoders/`, `serving/` or `reporting/`; they import it.
"""
