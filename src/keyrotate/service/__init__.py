"""The pipeline: scan an account, plan with the engine, execute (enforce) or not (audit),
store secrets, report. One implementation serves the CLI, the Lambda functions and the demo.
"""
