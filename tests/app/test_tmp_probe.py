import sys; sys.path.insert(0, "/work/main/tests/app")
from conftest import new_app
def test_run(empty_samples):
    at = new_app().run()
    assert not at.exception
    at.number_input(key="run.patch").set_value(128)
    at.button(key="run.button").click().run()
    assert not at.exception, at.exception
    print([type(e).__name__ for e in at.main])
    print(at.get("iframe")[:1])
    print([m.label for m in at.metric])
    print(at.get("download_button"))
