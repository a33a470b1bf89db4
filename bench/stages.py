import sys, time, orjson
from auxstream.policy import load_policy
from auxstream.domain.events import event_from_dict, InvalidEvent
from auxstream.domain import engine
from auxstream.replay.runner import Replayer
pol=load_policy('examples/policy.yaml')
lines=open(sys.argv[1],'rb').read().splitlines()
def t(f):
    s=time.process_time(); f(); return (time.process_time()-s)/len(lines)*1e6
def parse():
    for l in lines:
        try: orjson.loads(l)
        except Exception: pass
def validate():
    for l in lines:
        try: event_from_dict(orjson.loads(l))
        except Exception: pass
def core():
    states={}
    for l in lines:
        try: e=event_from_dict(orjson.loads(l))
        except Exception: continue
        st=states.get(e.agent_id) or states.setdefault(e.agent_id, engine.new_agent(e.agent_id))
        engine.apply(st,e,pol)
def replayer_noemit():
    r=Replayer(pol, lambda k,key,line: None)
    for l in lines: r.feed_line(l)
def replayer_list():
    acc=[]
    r=Replayer(pol, lambda k,key,line: acc.append((key,line)))
    for l in lines: r.feed_line(l)
for f in (parse, validate, core, replayer_noemit, replayer_list):
    print(f.__name__, round(t(f),2), 'us/event')
