"""The situation the model is put in: prompts, user turns, datasets and transcript parsing.

Pure Python: importing this package never pulls in torch, ray or any network client; only `env.llm`
(the endpoint client shared with the judges, used by `env.docs`' endpoint generator) imports httpx.
"""
