"""mcpops_solver: the runtime of OptimizationJob solver pods.

Reads a linear or mixed-integer problem (the project's JSON/YAML model form,
MPS or LP, plain or gzipped), solves it with an OR-Tools backend chosen by the
job or by ``auto``, and stores the result in ConfigMaps owned by the job.

What the operator and this runtime both read (the model form, scenario overrides, the
result ConfigMap and termination-message contract) is in :mod:`mcpops_common`; this
package never imports the operator (``mcpops``), nor the operator this one.
"""

__version__ = "0.1.0"
